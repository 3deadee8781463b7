"""Rotation grids for rotational averaging (the paper's grids, Lebedev-based, random).

Paper grids, order L: Euler angles (ZYZ) with alpha and gamma uniform at 2 pi k / (2L - 1) and
cos(beta) at the L Gauss-Legendre nodes with their weights: (2L - 1)^2 L rotations, exact for
rotational averages of Wigner-D components of degree l <= 2L - 2. Appending "i" doubles the
grid with the inversion: "1", "i", "2", "2i", "3", "3i" have 1, 2, 18, 36, 75, 150 elements.
"lebedev<N>" uses the N-point Lebedev rule (scipy.integrate.lebedev_rule) for the axis times
uniform spins about it; "random<N>" draws N uniform rotations (seeded). Weights sum to 1.
"""
import re

import numpy as np
from scipy.spatial.transform import Rotation

from eqt_analysis.errors import InputError

PAPER_GRIDS = ("1", "i", "2", "2i", "3", "3i")


def euler_grid(order):
    """(rotations (n, 3, 3), weights (n,)) of the order-L Euler/Gauss-Legendre grid."""
    if order < 1:
        raise InputError("grid order must be at least 1")
    if order == 1:
        return np.eye(3)[None], np.ones(1)
    n_angle = 2 * order - 1
    angles = 2 * np.pi * np.arange(n_angle) / n_angle
    nodes, gl_weights = np.polynomial.legendre.leggauss(order)
    alpha, beta, gamma = np.meshgrid(angles, np.arccos(nodes), angles, indexing="ij")
    weights = np.broadcast_to(gl_weights[None, :, None], alpha.shape).ravel()
    rot = Rotation.from_euler("ZYZ", np.stack([alpha.ravel(), beta.ravel(), gamma.ravel()], axis=1))
    return rot.as_matrix(), weights / weights.sum()


def lebedev_grid(n_points, n_spin=None):
    """Lebedev axes (degree giving ~n_points nodes) times n_spin uniform spins about each."""
    from scipy.integrate import lebedev_rule

    degrees = [3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31]
    for degree in degrees:
        nodes, weights = lebedev_rule(degree)
        if nodes.shape[1] >= n_points:
            break
    n_spin = n_spin or (degree + 1) // 2
    axes = nodes.T
    beta = np.arccos(np.clip(axes[:, 2], -1, 1))
    alpha = np.arctan2(axes[:, 1], axes[:, 0])
    spins = 2 * np.pi * np.arange(n_spin) / n_spin
    a, g = np.repeat(alpha, n_spin), np.tile(spins, len(alpha))
    b = np.repeat(beta, n_spin)
    rot = Rotation.from_euler("ZYZ", np.stack([a, b, g], axis=1)).as_matrix()
    w = np.repeat(weights, n_spin)
    return rot, w / w.sum()


def random_grid(n, seed=0):
    """n uniformly random rotations with equal weights."""
    return Rotation.random(n, random_state=seed).as_matrix(), np.full(n, 1.0 / n)


def grid(name, seed=0):
    """Rotations (n, 3, 3) and weights (n,) for a grid name: '1', 'i', '2', '2i', '3', '3i',
    'L5', 'L5i' (any order), 'lebedev50', 'random100'."""
    text = str(name).strip().lower()
    inversion = text.endswith("i") and text != "i"
    base = text[:-1] if inversion else text
    if text == "i":
        rot, w = euler_grid(1)
        inversion = True
    elif re.fullmatch(r"l?\d+", base):
        rot, w = euler_grid(int(base.lstrip("l")))
    elif re.fullmatch(r"lebedev\d+", base):
        rot, w = lebedev_grid(int(base[7:]))
    elif re.fullmatch(r"random\d+", base):
        rot, w = random_grid(int(base[6:]), seed)
    else:
        raise InputError(f"unknown grid {name!r}: use 1, i, 2, 2i, 3, 3i, L<order>[i], lebedev<N>[i], random<N>[i]")
    if inversion:
        rot, w = np.concatenate([rot, -rot]), np.concatenate([w, w]) / 2
    return rot, w
