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

# ase.neighborlist and scipy.sparse are imported where used: they cost ~0.4 s of start-up.


def bonds(numbers, positions, cell=None, pbc=(False, False, False), scale=1.2):
    """Bonded pairs (n_bonds, 2) with i < j, from one frame (positions Å, cell (3, 3) Å)."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
    cutoffs = scale * covalent_radii[np.asarray(numbers)]
    i, j = neighbor_list("ij", atoms, cutoffs, self_interaction=False)
    keep = i < j
    return np.unique(np.stack([i[keep], j[keep]], axis=1), axis=0).reshape(-1, 2)


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
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    numbers = np.asarray(numbers)
    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
    i, j, d = neighbor_list("ijd", atoms, r_oh, self_interaction=False)
    keep = (numbers[i] == 1) & (numbers[j] == 8)
    i, j, d = i[keep], j[keep], d[keep]
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
