"""Padded neighbour lists for the model: fixed capacity per atom, masks, and the reverse edge.

For atom i the row neighbors[i, :] holds the indices j of atoms within the cutoff (any
periodic image; several images of one atom when the cell is small), shifts[i, k] the integer
lattice shift S of that image (r_ij = x_j - x_i + S @ cell), mask[i, k] whether the slot is
used, and reverse[i, k] the flat index (j * capacity + k') of the edge j -> i with shift -S,
which message passing needs. Built with ASE's O(N) neighbour search outside jit; a capacity
that is too small raises (never truncates). Integer shifts make the list valid for the
rotated structure too (positions and cell rotated together).
"""
from typing import NamedTuple

import numpy as np

from eqt_analysis.errors import InputError


class Neighbors(NamedTuple):
    neighbors: np.ndarray  # (n_atoms, capacity) int32
    shifts: np.ndarray  # (n_atoms, capacity, 3) float, integer lattice shifts
    mask: np.ndarray  # (n_atoms, capacity) bool
    reverse: np.ndarray  # (n_atoms, capacity) int32, flat index of the reverse edge


MIN_DISTANCE = 0.5  # Å: atoms closer than this overlap (the model's forces are then meaningless, or NaN at 0)


def check_no_overlap(positions, cell, pbc, source=None, structure=None):
    """Overlapping atoms (closer than MIN_DISTANCE Å, periodic images included) are bad input (of `source`,
    structure number `structure` when given). cell (3, 3) Å or None (open)."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    periodic = cell is not None and bool(np.any(pbc))
    atoms = Atoms(positions=positions, cell=cell if periodic else None, pbc=pbc if periodic else False)
    i, j, d = neighbor_list("ijd", atoms, MIN_DISTANCE, self_interaction=False)
    if len(i):
        k = int(np.argmin(d))
        where = "" if structure is None else f"structure {structure}: "
        raise InputError(f"{where}atoms {i[k]} and {j[k]} overlap ({d[k]:.3f} Å apart, less than {MIN_DISTANCE} Å)",
                         source)


def count_max(positions, cell, pbc, cutoff):
    """Largest number of neighbours of any atom within cutoff (Å)."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    atoms = Atoms(positions=positions, cell=cell, pbc=pbc)
    i = neighbor_list("i", atoms, cutoff, self_interaction=False)
    return int(np.bincount(i, minlength=len(positions)).max()) if len(i) else 0


def capacity_for(count, margin=1.1, multiple=8):
    """A padded capacity for `count` neighbours: a margin, rounded up (fewer recompilations)."""
    return max(multiple, int(np.ceil(count * margin / multiple) * multiple))


def slots_for(count):
    """Neighbour slots per atom for the model itself: the fewest slots, at least `count`, that make the
    atom's token count (slots + the central token) a multiple of 4; no margin. Attention costs about
    linearly in the slots here (192 water atoms, at most 37 neighbours within 4 Å: 40 slots evaluate ~1.35x
    faster than 48), and XLA's CPU products run ~8 % faster on token counts that are multiples of 4 (slots
    27/31/39 against 28/32/40, small preset), so the model gets few padded slots; what grows (MD) is regrown
    on overflow, never truncated."""
    return capacity_for(count + 1, margin=1.0, multiple=4) - 1


def build(positions, cell, pbc, cutoff, capacity, grow=False):
    """Neighbors of every atom within cutoff (Å). cell (3, 3) Å or None; pbc (3,) bools. More
    neighbours than `capacity` raise InputError, or with `grow` give a list of slots_for(them)
    slots (one search either way)."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    positions = np.asarray(positions, dtype=float)
    n = len(positions)
    atoms = Atoms(positions=positions, cell=cell if cell is not None else np.zeros((3, 3)),
                  pbc=pbc if cell is not None else False)
    i, j, shift = neighbor_list("ijS", atoms, cutoff, self_interaction=False)
    order = np.lexsort((j, i))
    i, j, shift = i[order], j[order], shift[order]
    counts = np.bincount(i, minlength=n)
    if grow and counts.max(initial=0) > capacity:
        capacity = slots_for(int(counts.max()))
    if counts.max(initial=0) > capacity:
        raise InputError(f"an atom has {counts.max()} neighbours within {cutoff} Å, more than the "
                         f"capacity {capacity}; rebuild with a larger capacity")
    slot = np.arange(len(i)) - np.repeat(np.cumsum(counts) - counts, counts)
    neighbors = np.zeros((n, capacity), np.int32)
    shifts = np.zeros((n, capacity, 3))
    mask = np.zeros((n, capacity), bool)
    neighbors[i, slot] = j
    shifts[i, slot] = shift
    mask[i, slot] = True
    # reverse edge: (j, i, -S) -> its slot, by sorting edge keys
    base = 2 * int(np.abs(shift).max(initial=0)) + 1
    key = _edge_keys(i, j, shift, n, base)
    rkey = _edge_keys(j, i, -shift, n, base)
    lookup = np.argsort(key)
    found = lookup[np.searchsorted(key, rkey, sorter=lookup)]
    if not np.array_equal(key[found], rkey):
        raise InputError("inconsistent neighbour list (reverse edge missing)")
    reverse = np.zeros((n, capacity), np.int32)
    reverse[i, slot] = (i[found] * capacity + slot[found]).astype(np.int32)
    # padded slots point at the atom itself, with zero shift: harmless and masked out
    pad = ~mask
    neighbors[pad] = np.nonzero(pad)[0]
    return Neighbors(neighbors, shifts, mask, reverse)


def _edge_keys(i, j, shift, n, base):
    """One int64 per edge (i, j, shift) for n atoms and shifts within +-(base - 1) / 2."""
    if float(n) ** 2 * base**3 > 2**62:
        raise InputError("system too large for the neighbour-list edge keys")
    s = np.asarray(shift, np.int64) + (base - 1) // 2
    pair = np.asarray(i, np.int64) * n + np.asarray(j, np.int64)
    return ((pair * base + s[:, 0]) * base + s[:, 1]) * base + s[:, 2]
