"""Pairs within a cutoff under the minimum-image convention, O(N) by cell lists.

Works for orthorhombic and triclinic cells (rows = lattice vectors, Å). The cutoff must be
below half the smallest perpendicular width of the cell: then the minimum image of every
pair within the cutoff is unique and found by rounding fractional coordinates, and no pair
is counted twice. `check_cutoff` refuses larger cutoffs (eqt does not sum over several
periodic images of the same pair).

Cell lists bin atoms by fractional coordinate into n_k = floor(w_k / r_cut) slabs (at most
MAX_BINS) along each lattice direction k (w_k: perpendicular width), so every pair within r_cut lies in
neighbouring bins; with fewer than 3 bins along some direction all pairs are checked.
(`rdf._pair_sums` fuses the same search with the RDF accumulation for speed.)
"""
import numba
import numpy as np

from . import cell as cellmod
from .errors import InputError


def check_cutoff(cells, r_cut, source=None, remedy="use a smaller r_max", name=None):
    """Raise InputError when r_cut (Å) exceeds half the smallest perpendicular width of a cell; `name`
    says what r_cut is made of (default 'r_max')."""
    limit = np.atleast_1d(cellmod.minimum_image_limit(np.asarray(cells)))
    bad = np.flatnonzero(r_cut > limit)
    if bad.size:
        f = int(bad[0])
        raise InputError(f"{name or 'r_max'} {r_cut:g} Å exceeds half the smallest perpendicular cell width "
                         f"({limit[f]:.6g} Å in frame {f}); {remedy}", source)


@numba.njit(cache=True)
def _bin_of(frac, n_bins):
    out = np.empty((frac.shape[0], 3), np.int64)
    for i in range(frac.shape[0]):
        for k in range(3):
            s = frac[i, k] - np.floor(frac[i, k])
            b = int(s * n_bins[k])
            out[i, k] = min(b, n_bins[k] - 1)
    return out


@numba.njit(cache=True)
def cell_list(frac, n_bins):
    """Sort atoms (fractional coordinates (n, 3)) into n_bins[0] x n_bins[1] x n_bins[2] cells:
    atoms of cell c are order[start[c]:start[c + 1]], cell c = (b0 * n1 + b1) * n2 + b2."""
    bins = _bin_of(frac, n_bins)
    n_cells = n_bins[0] * n_bins[1] * n_bins[2]
    cell_of = (bins[:, 0] * n_bins[1] + bins[:, 1]) * n_bins[2] + bins[:, 2]
    order = np.argsort(cell_of)
    start = np.zeros(n_cells + 1, np.int64)
    for j in range(frac.shape[0]):
        start[cell_of[j] + 1] += 1
    for c in range(n_cells):
        start[c + 1] += start[c]
    return order, start


MAX_BINS = 128  # cells per direction: larger cells still hold every pair, and memory stays bounded


def cell_bins(cell, r_cut):
    """Cells per lattice direction for a cutoff r_cut (Å): floor(width / r_cut), in [1, MAX_BINS]."""
    return np.clip(np.floor(cellmod.perpendicular_widths(cell) / r_cut), 1, MAX_BINS).astype(np.int64)


@numba.njit(cache=True)
def _pairs(positions, h, h_inv, idx_a, idx_b, same, r_cut, n_bins, i_out, j_out, vec_out):
    """Fill (i, j, minimum-image vector j - i) for pairs within r_cut; returns the count,
    or -count_needed when the output arrays are too small. With fewer than 3 cells along some
    direction, one cell holds every atom (all pairs are checked)."""
    r2 = r_cut * r_cut
    cap = i_out.shape[0]
    n = 0
    frac_a = positions[idx_a] @ h_inv
    frac_b = positions[idx_b] @ h_inv
    reach = 1
    if n_bins[0] < 3 or n_bins[1] < 3 or n_bins[2] < 3:
        n_bins = np.ones(3, np.int64)
        reach = 0
    order, start_of = cell_list(frac_b, n_bins)
    bins_a = _bin_of(frac_a, n_bins)
    for ia in range(idx_a.shape[0]):
        for o0 in range(-reach, reach + 1):
            c0 = (bins_a[ia, 0] + o0) % n_bins[0]
            for o1 in range(-reach, reach + 1):
                c1 = (bins_a[ia, 1] + o1) % n_bins[1]
                for o2 in range(-reach, reach + 1):
                    c = (c0 * n_bins[1] + c1) * n_bins[2] + (bins_a[ia, 2] + o2) % n_bins[2]
                    for q in range(start_of[c], start_of[c + 1]):
                        jb = order[q]
                        if same and jb <= ia:
                            continue
                        s = frac_b[jb] - frac_a[ia]
                        for k in range(3):
                            s[k] -= np.floor(s[k] + 0.5)
                        d = s @ h
                        if d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < r2:
                            if n < cap:
                                i_out[n] = idx_a[ia]
                                j_out[n] = idx_b[jb]
                                vec_out[n] = d
                            n += 1
    return n if n <= cap else -n


def pairs_within(positions, cell, r_cut, idx_a, idx_b=None):
    """Pairs (i, j) and minimum-image vectors r_j - r_i (Å) with |r_j - r_i| < r_cut.

    positions (n_atoms, 3) Å, cell (3, 3) Å; idx_a, idx_b atom indices. With idx_b None
    (pairs inside one group) each unordered pair appears once, i before j in idx_a order.
    Returns (i (n,), j (n,), vectors (n, 3)).
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    h = np.ascontiguousarray(cell, dtype=np.float64)
    same = idx_b is None
    idx_a = np.ascontiguousarray(idx_a, dtype=np.int64)
    idx_b = idx_a if same else np.ascontiguousarray(idx_b, dtype=np.int64)
    limit = cellmod.minimum_image_limit(h)
    if r_cut > limit:
        raise InputError(f"cutoff {r_cut:g} Å exceeds half the smallest perpendicular cell width {limit:.6g} Å")
    n_bins = cell_bins(h, r_cut)
    density = len(idx_b) / cellmod.volume(h)
    cap = int(len(idx_a) * (4.19 * r_cut**3 * density * 1.5 + 8)) + 16
    while True:
        i_out = np.empty(cap, np.int64)
        j_out = np.empty(cap, np.int64)
        vec = np.empty((cap, 3), np.float64)
        n = _pairs(positions, h, np.linalg.inv(h), idx_a, idx_b, same, float(r_cut), n_bins, i_out, j_out, vec)
        if n >= 0:
            return i_out[:n], j_out[:n], vec[:n]
        cap = -n
