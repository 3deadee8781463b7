"""Periodic cells.

One convention: a cell is a float64 array (..., 3, 3) in Å whose ROWS are the lattice
vectors a, b, c (ASE's convention). Lengths/angles (Å, degrees) follow the AMBER/ASE
definition: alpha = angle(b, c), beta = angle(a, c), gamma = angle(a, b); the matrix built
from them has a along x and b in the xy plane (lower triangular).

All functions are vectorised over leading (frame) axes and work on NumPy arrays.
"""
import numpy as np


def lengths_angles(cell):
    """Cell lengths (Å) and angles (degrees) of cells (..., 3, 3)."""
    cell = np.asarray(cell, dtype=float)
    lengths = np.linalg.norm(cell, axis=-1)
    a, b, c = cell[..., 0, :], cell[..., 1, :], cell[..., 2, :]

    def angle(u, v, nu, nv):
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.sum(u * v, axis=-1) / (nu * nv)
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))

    la, lb, lc = lengths[..., 0], lengths[..., 1], lengths[..., 2]
    angles = np.stack([angle(b, c, lb, lc), angle(a, c, la, lc), angle(a, b, la, lb)], axis=-1)
    return lengths, angles


def from_lengths_angles(lengths, angles):
    """Cell matrices (..., 3, 3) from lengths (..., 3) in Å and angles (..., 3) in degrees.

    Angles within 1e-10 degrees of 90 give exact zeros (as ase.geometry.cellpar_to_cell).
    """
    lengths = np.asarray(lengths, dtype=float)
    angles = np.asarray(angles, dtype=float)

    def cos_sin(deg):
        right = np.abs(deg - 90.0) < 1e-10
        rad = np.radians(deg)
        return np.where(right, 0.0, np.cos(rad)), np.where(right, 1.0, np.sin(rad))

    cos_alpha, _ = cos_sin(angles[..., 0])
    cos_beta, _ = cos_sin(angles[..., 1])
    cos_gamma, sin_gamma = cos_sin(angles[..., 2])
    a, b, c = lengths[..., 0], lengths[..., 1], lengths[..., 2]
    zero = np.zeros_like(a)
    cy = (cos_alpha - cos_beta * cos_gamma) / sin_gamma
    cz = np.sqrt(np.clip(1.0 - cos_beta**2 - cy**2, 0.0, None))
    rows = [np.stack([a, zero, zero], axis=-1),
            np.stack([b * cos_gamma, b * sin_gamma, zero], axis=-1),
            np.stack([c * cos_beta, c * cy, c * cz], axis=-1)]
    return np.stack(rows, axis=-2)


def volume(cell):
    """Cell volumes (...) in Å^3 (absolute value of the determinant)."""
    return np.abs(np.linalg.det(np.asarray(cell, dtype=float)))


def perpendicular_widths(cell):
    """Distances (..., 3) in Å between opposite faces of cells (..., 3, 3).

    Width i is V / |a_j x a_k|; half the smallest width bounds the minimum-image cutoff.
    """
    cell = np.asarray(cell, dtype=float)
    vol = volume(cell)
    a, b, c = cell[..., 0, :], cell[..., 1, :], cell[..., 2, :]
    areas = np.stack([np.linalg.norm(np.cross(b, c), axis=-1),
                      np.linalg.norm(np.cross(c, a), axis=-1),
                      np.linalg.norm(np.cross(a, b), axis=-1)], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return vol[..., None] / areas


def minimum_image_limit(cell):
    """The largest cutoff (...) in Å for which the minimum image finds every pair of cells (..., 3, 3): half
    the smallest perpendicular width, 1e-12 relative to spare, so that a cutoff of exactly half a cell
    length is not refused for the rounding of V / area (12 Å can come out as 11.999999999999998)."""
    return perpendicular_widths(cell).min(axis=-1) / 2 * (1 + 1e-12)


def is_orthorhombic(cell, atol=1e-6):
    """True where every off-diagonal entry of the cell is below `atol` Å."""
    cell = np.asarray(cell, dtype=float)
    off = cell - cell * np.eye(3)
    return np.all(np.abs(off) <= atol, axis=(-2, -1))
