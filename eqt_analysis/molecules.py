"""Molecules: bonded groups of atoms under the minimum-image convention.

Two atoms are bonded when their minimum-image distance is below `scale` times the sum of
their covalent radii (ase.data.covalent_radii; scale 1.2 by default, as ASE's
`natural_cutoffs`). Molecules are the connected components of the bond graph, numbered
0, 1, ... in the order of their lowest atom index, so the result does not depend on the
atom order beyond that numbering. The bond graph is taken from one frame (the first) and
kept for the trajectory.

`make_whole` moves every atom next to its bonded neighbour along a spanning tree of each
molecule (minimum image per bond, exact for bonds shorter than half the smallest
perpendicular cell width), so molecules split across the boundary become whole.
"""
import numba
import numpy as np
from ase.data import covalent_radii

from . import cell as cellmod
from .errors import InputError
from .neighbors import pairs_within

# scipy.sparse (and ase.neighborlist, for the rare cells pairs_within cannot take) are imported
# where used: they cost ~0.4 s of start-up.


def close_pairs(numbers, positions, cell, pbc, r_cut, idx_a=None, idx_b=None):
    """(i, j, distance Å) of the atoms idx_a, idx_b (default: all; pairs within one group once,
    i < j) closer than r_cut Å under the minimum image of the periodic directions of `cell`
    (None: an open system). eqt's cell lists (memory linear in the atoms, whatever the box);
    ASE's neighbour list for partly periodic cells and for cutoffs over half the cell width."""
    positions = np.asarray(positions, dtype=np.float64)
    if not np.isfinite(positions).all():
        raise InputError("positions that are NaN or infinite")
    n = len(positions)
    idx_a = np.arange(n) if idx_a is None else np.asarray(idx_a, np.int64)
    periodic = np.broadcast_to(np.asarray(pbc, bool), (3,)) if cell is not None else np.zeros(3, bool)
    if n == 0 or len(idx_a) == 0 or (idx_b is not None and len(idx_b) == 0):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    if not periodic.any():  # open: a box wider than the atoms' extent plus the cutoff on every side
        low = positions.min(axis=0)
        positions = positions - low
        cell = np.diag(positions.max(axis=0) + 2 * r_cut + 1.0)
    elif not periodic.all() or r_cut > cellmod.minimum_image_limit(np.asarray(cell, float)):
        return _ase_pairs(numbers, positions, cell, pbc, r_cut, idx_a, idx_b)
    i, j, vec = pairs_within(positions, cell, r_cut, idx_a, idx_b)
    return i, j, np.sqrt(np.einsum("ij,ij->i", vec, vec))


def _ase_pairs(numbers, positions, cell, pbc, r_cut, idx_a, idx_b):
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc), r_cut,
                            self_interaction=False)
    in_a = np.zeros(len(positions), bool)
    in_a[idx_a] = True
    if idx_b is None:
        keep = in_a[i] & in_a[j] & (i < j)
    else:
        in_b = np.zeros(len(positions), bool)
        in_b[idx_b] = True
        keep = in_a[i] & in_b[j]
    return i[keep], j[keep], d[keep]


def bonds(numbers, positions, cell=None, pbc=(False, False, False), scale=1.2):
    """Bonded pairs (n_bonds, 2) with i < j, from one frame (positions Å, cell (3, 3) Å)."""
    radii = scale * covalent_radii[np.asarray(numbers)]
    if len(radii) == 0:
        return np.zeros((0, 2), np.int64)
    i, j, d = close_pairs(numbers, positions, cell, pbc, 2 * radii.max())
    keep = d < radii[i] + radii[j]
    i, j = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
    return np.unique(np.stack([i, j], axis=1), axis=0).reshape(-1, 2).astype(np.int64)


def _graph(n_atoms, pairs):
    from scipy.sparse import coo_matrix

    return coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n_atoms, n_atoms)).tocsr()


def assign(numbers, positions, cell=None, pbc=(False, False, False), scale=1.2):
    """Molecule index of every atom (n_atoms,), numbered by lowest atom index."""
    from scipy.sparse.csgraph import connected_components

    n_atoms = len(numbers)
    _, labels = connected_components(_graph(n_atoms, bonds(numbers, positions, cell, pbc, scale)),
                                     directed=False)
    first = np.full(labels.max() + 1, n_atoms)
    np.minimum.at(first, labels, np.arange(n_atoms))
    rank = np.empty_like(first)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[labels].astype(np.int32)


def spanning_edges(numbers, positions, cell=None, pbc=(False, False, False), scale=1.2):
    """(parents, children): breadth-first spanning-forest edges, each parent placed first."""
    from scipy.sparse.csgraph import breadth_first_order

    n_atoms = len(numbers)
    graph = _graph(n_atoms, bonds(numbers, positions, cell, pbc, scale))
    graph = graph + graph.T
    seen = np.zeros(n_atoms, bool)
    parents, children = [], []
    for root in range(n_atoms):
        if seen[root]:
            continue
        order, pred = breadth_first_order(graph, root, directed=False, return_predecessors=True)
        seen[order] = True
        parents.append(pred[order[1:]])
        children.append(order[1:])
    return (np.concatenate(parents).astype(np.int64) if parents else np.zeros(0, np.int64),
            np.concatenate(children).astype(np.int64) if children else np.zeros(0, np.int64))


@numba.njit(cache=True)
def _make_whole(positions, cells, parents, children):
    out = positions.copy()
    for f in range(out.shape[0]):
        h = cells[f]
        h_inv = np.linalg.inv(h)
        for e in range(children.shape[0]):
            p, c = parents[e], children[e]
            d = out[f, c] - out[f, p]
            s = d @ h_inv
            for k in range(3):
                s[k] -= np.floor(s[k] + 0.5)
            out[f, c] = out[f, p] + s @ h
    return out


def make_whole(positions, cells, parents, children):
    """Positions (n_frames, n_atoms, 3) with every molecule whole (see module doc).

    cells (n_frames, 3, 3) Å, or None for an open system (positions returned unchanged).
    Assumes periodicity along all three cell vectors.
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    if cells is None or len(children) == 0:
        return positions.copy()
    cells = np.ascontiguousarray(np.broadcast_to(cells, (positions.shape[0], 3, 3)), dtype=np.float64)
    return _make_whole(positions, cells, np.asarray(parents, np.int64), np.asarray(children, np.int64))


def find_waters(numbers, positions, cell=None, pbc=(False, False, False), r_oh=1.5):
    """Waters as (n_water, 3) atom indices [O, H, H], sorted by the O index.

    Every H is given to its nearest O within r_oh Å (minimum image); an O with exactly two
    H is a water. This is robust to stretched O-H bonds that break the bonded grouping in
    hot or quantum-nuclear samples; an H3O+ or OH- is simply not a water.
    """
    numbers = np.asarray(numbers)
    i, j, d = close_pairs(numbers, positions, cell, pbc, r_oh, np.flatnonzero(numbers == 1),
                          np.flatnonzero(numbers == 8))
    order = np.lexsort((d, i))  # per H, nearest O first
    i, j = i[order], j[order]
    first = np.r_[True, i[1:] != i[:-1]][:len(i)]
    h_atoms, owner = i[first], j[first]
    out = []
    for o in np.flatnonzero(numbers == 8):
        hs = np.sort(h_atoms[owner == o])
        if len(hs) == 2:
            out.append([o, hs[0], hs[1]])
    return np.array(out, dtype=np.int64).reshape(-1, 3)


def water_dipole_axes(positions, cell, waters):
    """Unit dipole axes (n_water, 3) of waters [O, H, H]: H-H midpoint minus O (minimum image)."""
    o = positions[waters[:, 0]]
    h1 = positions[waters[:, 1]] - o
    h2 = positions[waters[:, 2]] - o
    if cell is not None:
        inv = np.linalg.inv(cell)
        h1 = h1 - np.round(h1 @ inv) @ cell
        h2 = h2 - np.round(h2 @ inv) @ cell
    u = 0.5 * (h1 + h2)
    return u / np.linalg.norm(u, axis=1, keepdims=True)
