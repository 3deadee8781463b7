"""The rotations of eqt: averaging grids (one vocabulary of names) and random rotations.

A `Grid` is a name, rotations (n, 3, 3) (improper ones include the inversion) and weights (n,)
summing to 1. `grid(name)` builds one; `GridType` does it while a command reads its options,
so a bad name stops the command before a model or a structure is loaded. Names:

- "1", "i", "2", "2i", "3", "3i": the paper's grids (PAPER_GRIDS), any order as "L<order>" or
  "<order>": Euler angles (ZYZ) with alpha and gamma uniform at 2 pi k / (2L - 1) and cos(beta)
  at the L Gauss-Legendre nodes with their weights, (2L - 1)^2 L rotations, exact for rotational
  averages of Wigner-D components of degree l <= 2L - 2. "1" is the identity: the plain model.
- "lebedev<N>": the smallest Lebedev rule (scipy.integrate.lebedev_rule) with at least N axes
  (up to degree 31), times uniform spins about each axis.
- a trailing "i" doubles a grid with the inversion ("i" alone: the identity and the inversion);
  "1", "i", "2", "2i", "3", "3i" have 1, 2, 18, 36, 75, 150 elements.

Random rotations are not a grid: `random_rotations(key, n)` draws them, for the training
augmentation, the randomly rotated model (eqt-eval --random-rotation, EQTCalculator) and the
spread of eqt-rotvar alike.
"""
import dataclasses
import re

import click
import numpy as np
from scipy.spatial.transform import Rotation

from eqt_analysis.errors import InputError

PAPER_GRIDS = ("1", "i", "2", "2i", "3", "3i")
NAMES = "1, i, 2, 2i, 3, 3i, L<order>[i], lebedev<N>[i]"
MAX_ROTATIONS = 1_000_000  # beyond this a grid is a typo, not a plan (order 63 has 984375)


@dataclasses.dataclass(frozen=True, eq=False)
class Grid:
    """An averaging grid: its name, rotations (n, 3, 3) and weights (n,) summing to 1."""

    name: str
    rotations: np.ndarray
    weights: np.ndarray

    def __len__(self):
        return len(self.weights)


def euler_grid(order):
    """(rotations (n, 3, 3), weights (n,)) of the order-L Euler/Gauss-Legendre grid."""
    if order < 1:
        raise InputError("grid order must be at least 1")
    if (2 * order - 1) ** 2 * order > MAX_ROTATIONS:
        raise InputError(f"a grid of order {order} has more than {MAX_ROTATIONS} rotations")
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


def grid(name):
    """The Grid of a name (see the module docstring); InputError (one line) for any other name."""
    name = str(name).strip()
    text = name.lower()
    inversion = text.endswith("i") and text != "i"
    base = text[:-1] if inversion else text
    if text == "i":
        rot, w = euler_grid(1)
        inversion = True
    elif re.fullmatch(r"l?\d+", base):
        rot, w = euler_grid(int(base.lstrip("l")))
    elif re.fullmatch(r"lebedev\d+", base):
        rot, w = lebedev_grid(int(base[7:]))
    elif text.startswith("random"):
        raise InputError(f"{name!r} is not a grid: random rotations are their own option "
                         "(eqt-eval --random-rotation, eqt-rotvar --n-random)")
    else:
        raise InputError(f"unknown grid {name!r}: use {NAMES}")
    if inversion:
        rot, w = np.concatenate([rot, -rot]), np.concatenate([w, w]) / 2
    return Grid(name, rot, w)


IDENTITY = grid("1")


class GridType(click.ParamType):
    """A click parameter of one grid name, or (many=True) of comma-separated names, coarse to
    fine, each at most once: converted to Grid values while the options are read."""

    name = "grid"

    def __init__(self, many=False):
        self.many = many

    def convert(self, value, param, ctx):
        if isinstance(value, (Grid, tuple)):
            return value
        try:
            if not self.many:
                return grid(value)
            names = [part.strip() for part in str(value).split(",") if part.strip()]
            if not names:
                raise InputError(f"{value!r} names no grid: use {NAMES}")
            grids = tuple(grid(part) for part in names)
            if len({g.name.lower() for g in grids}) < len(grids):
                raise InputError(f"{value!r} names a grid twice")
            finer = [g.name for g in grids[:-1] if len(g) > len(grids[-1])]
            if finer:
                raise InputError(f"{value!r}: the last grid is the reference, but {finer[0]} has more rotations "
                                 f"than {grids[-1].name} ({len(grids[-1])}): give the grids coarse to fine")
            return grids
        except InputError as err:
            self.fail(str(err), param, ctx)


def random_rotations(key, n, inversion=False):
    """n uniformly distributed rotations (n, 3, 3) drawn with the JAX random key `key` (unit
    quaternions from normal samples), in JAX's default float type; traceable, so training draws
    them inside its jitted step. With `inversion` each is times -1 with probability 1/2."""
    import jax  # here, not above: reading grid options stays fast
    import jax.numpy as jnp

    q = jax.random.normal(key, (n, 4))
    q = q / jnp.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    rot = jnp.stack([
        jnp.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        jnp.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        jnp.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], axis=1)
    if inversion:
        sign = jnp.where(jax.random.bernoulli(jax.random.fold_in(key, 1), 0.5, (n,)), -1.0, 1.0)
        rot = rot * sign[:, None, None]
    return rot
