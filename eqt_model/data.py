"""Labelled structures for training and evaluation: extxyz -> padded graphs + labels.

All structures of a dataset are padded to the same atom count and neighbour capacity so a
batch is one jitted call: padded atoms sit far away (no neighbours), have species index 0
and are masked out of energies and forces.
"""
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from eqt_analysis import trajectory
from eqt_analysis.io import xyz
from eqt_analysis.errors import InputError

from . import neighbors as nbmod


class Dataset(NamedTuple):
    positions: np.ndarray  # (S, N, 3) Å
    cells: np.ndarray  # (S, 3, 3) Å
    species: np.ndarray  # (S, N) index into config.species
    atom_mask: np.ndarray  # (S, N) bool: real atoms
    neighbors: nbmod.Neighbors  # arrays with a leading S axis
    energy: np.ndarray  # (S,) eV (NaN if unlabelled)
    forces: np.ndarray  # (S, N, 3) eV/Å (NaN if unlabelled)
    n_atoms: np.ndarray  # (S,)
    numbers: list  # atomic numbers per structure


def read(path, energy_key="energy", forces_key="forces", require_labels=True):
    """Structures of an extxyz file as ase.Atoms with their labels (eV, eV/Å)."""
    import ase.io

    try:
        frames = ase.io.read(str(path), index=":")
    except Exception as err:  # ASE raises many types for malformed files
        raise InputError(f"cannot read structures ({type(err).__name__}: {err})", path) from None
    if not frames:
        raise InputError("no structures", path)
    xyz.check_last_line(path)
    energies, forces = [], []
    for k, atoms in enumerate(frames):
        results = atoms.calc.results if atoms.calc is not None else {}
        e = results.get(energy_key, atoms.info.get(energy_key))
        f = results.get(forces_key, atoms.arrays.get(forces_key))
        if require_labels and (e is None or f is None):
            missing = "energy" if e is None else "forces"
            raise InputError(f"structure {k} has no {missing} label ({energy_key!r}/{forces_key!r}; "
                             "set --energy-key/--forces-key)", path)
        _check_structure(k, atoms, e, f, path)
        energies.append(np.nan if e is None else float(e))
        forces.append(np.full((len(atoms), 3), np.nan) if f is None else np.asarray(f, float))
    return frames, np.array(energies), forces


def _check_structure(k, atoms, energy, forces, path):
    """The reading checks of eqt trajectories (eqt_analysis.trajectory) for labelled structure k:
    finite numbers, a non-degenerate periodic cell of sane size, atoms near the cell (or near the origin),
    no overlapping atoms."""
    dims = ("frame", "atom", "spatial")
    cells = None
    if atoms.pbc.any():
        cells = atoms.cell.array[None]
        if not np.all(np.isfinite(cells)) or abs(np.linalg.det(cells[0])) < 1e-6:
            raise InputError(f"structure {k} is periodic with a degenerate cell", path)
    check_geometry(atoms.positions, None if cells is None else cells[0], atoms.pbc, path, k)
    if forces is not None:
        trajectory.check_array("forces", np.asarray(forces, float)[None], dims, path, frames=[k])
    if energy is not None and not np.isfinite(float(energy)):
        raise InputError(f"NaN or inf energy of structure {k}", path)


def check_geometry(positions, cell, pbc, source=None, structure=None):
    """A structure the model can take (InputError naming `source` and structure number `structure`): a periodic
    cell (3, 3) Å (None: open) of sane size, atoms near the cell (or the origin), no overlapping atoms."""
    cells = None if cell is None else np.asarray(cell, float)[None]
    frames = None if structure is None else [structure]
    if cells is not None:
        trajectory.check_cells(cells, source, frames=frames)
    trajectory.check_array("positions", np.asarray(positions, float)[None], ("frame", "atom", "spatial"), source,
                           cells=cells, frames=frames)
    nbmod.check_no_overlap(positions, cell, pbc, source, structure)


def build(frames, energies, forces, species, cutoff, capacity=None):
    """Pad structures (ase.Atoms) to one atom count and neighbour capacity."""
    known = {z: i for i, z in enumerate(species)}
    for k, atoms in enumerate(frames):
        unknown = sorted(set(atoms.numbers) - set(known))
        if unknown:
            raise InputError(f"structure {k} has species {unknown} unknown to the model (knows {list(species)})")
    n_max = max(len(a) for a in frames)
    if capacity is None:  # fixed structures: the exact largest count, no margin (padding costs time)
        capacity = max(1, max(nbmod.count_max(a.positions, a.cell.array if a.pbc.any() else None, a.pbc, cutoff)
                              for a in frames))
    s = len(frames)
    positions = np.zeros((s, n_max, 3))
    cells = np.zeros((s, 3, 3))
    spec = np.zeros((s, n_max), np.int32)
    mask = np.zeros((s, n_max), bool)
    f_out = np.zeros((s, n_max, 3))
    lists = []
    for k, atoms in enumerate(frames):
        n = len(atoms)
        far = 1e4 + 10.0 * cutoff * np.arange(n_max - n)[:, None] * np.array([1.0, 0.0, 0.0])
        positions[k, :n], positions[k, n:] = atoms.positions, far
        periodic = bool(atoms.pbc.any())
        cells[k] = atoms.cell.array if periodic else 0.0
        if periodic and abs(np.linalg.det(cells[k])) < 1e-9:
            raise InputError(f"structure {k} is periodic with a degenerate cell")
        spec[k, :n] = [known[z] for z in atoms.numbers]
        mask[k, :n] = True
        f_out[k, :n] = forces[k]
        nb = nbmod.build(atoms.positions, cells[k] if periodic else None, atoms.pbc, cutoff, capacity)
        lists.append(_pad(nb, n_max, capacity))
    stacked = nbmod.Neighbors(*[np.stack([getattr(nb, f) for nb in lists]) for f in nbmod.Neighbors._fields])
    return Dataset(positions, cells, spec, mask, stacked, np.asarray(energies, float), f_out,
                   np.array([len(a) for a in frames]), [a.numbers for a in frames])


def _pad(nb, n_max, capacity):
    n = len(nb.neighbors)
    if n == n_max:
        return nb
    extra = n_max - n
    idx = np.arange(n, n_max)
    return nbmod.Neighbors(
        np.concatenate([nb.neighbors, np.repeat(idx[:, None], capacity, 1)]).astype(np.int32),
        np.concatenate([nb.shifts, np.zeros((extra, capacity, 3))]),
        np.concatenate([nb.mask, np.zeros((extra, capacity), bool)]),
        np.concatenate([nb.reverse, np.zeros((extra, capacity), np.int32)]))


def slots_needed(ds):
    """Neighbour slots each structure needs (S,): its largest neighbour count rounded up as
    eqt_model.neighbors.slots_for rounds it."""
    counts = ds.neighbors.mask.sum(axis=-1).max(axis=-1, initial=0)
    return np.array([min(ds.neighbors.mask.shape[2], nbmod.slots_for(max(1, int(c)))) for c in counts])


def trim(ds):
    """The Dataset with its neighbour slots cut to the most that any of its structures needs
    (slots_needed): the used slots come first in every row (eqt_model.neighbors), so nothing is
    lost; the reverse-edge indices j * K + k are re-encoded for the new K. Fewer padded slots,
    a cheaper model: attention costs about K^2."""
    k_old = ds.neighbors.mask.shape[2]
    k = int(slots_needed(ds).max(initial=1))
    if k == k_old:
        return ds
    nb = ds.neighbors
    reverse = (nb.reverse // k_old) * k + nb.reverse % k_old
    cut = nbmod.Neighbors(nb.neighbors[..., :k], nb.shifts[..., :k, :], nb.mask[..., :k],
                          reverse[..., :k].astype(nb.reverse.dtype))
    return ds._replace(neighbors=cut)


# Structures of at least BLOCK_FROM_ATOMS atoms are evaluated in blocks of atoms sorted by neighbour count
# (calculator.Potential.graph; forcefield.compact in MD): BLOCKS, these fractions of their atoms, or, beyond
# len(BLOCKS) * BLOCK_ATOMS atoms, equal blocks of at most BLOCK_ATOMS atoms (at most MAX_BLOCKS blocks).
# Water, 4 Å cutoff, at most 37 neighbours. On a 2-core AMD EPYC, compile s / evaluation ms for one block, then
# 2, 3 and 4: 192 atoms, small preset 2.5/61, 5.3/45, 7.6/53, 11.4/47; 1536 atoms 3.0/621, 5.2/482, 6.8/344,
# 10.0/339; 192 atoms, paper preset 4.9/1070, 6.9/689, 11.3/598, 15.1/588. Small structures keep one block:
# they gain little and would pay the longer compilation. On a 2-core Intel Xeon (2026-12-05), 1536 atoms:
# paper preset in 3 or 4 blocks 8.3-10.4 s, in 6 to 16 blocks 3.8-5.3 s (blocks of at most ~256 atoms keep a
# layer's arrays cache-sized); small preset in 3 blocks 276 ms, in 8 or 16 blocks 223 ms. Compilation grows
# with the blocks (paper: 31 s for 3 blocks, 34 s for 8, 45 s for 12, 63 s for 16), hence the cap.
BLOCKS = (0.5, 0.3, 0.2)
BLOCK_FROM_ATOMS = 96
BLOCK_ATOMS = 192
MAX_BLOCKS = 12


def fractions_for(n_atoms):
    """The blocks (fractions of the atoms) a structure of n_atoms is evaluated in: one block below
    BLOCK_FROM_ATOMS, BLOCKS up to len(BLOCKS) * BLOCK_ATOMS atoms, else equal blocks of about BLOCK_ATOMS
    atoms, at most MAX_BLOCKS of them."""
    if n_atoms < BLOCK_FROM_ATOMS:
        return (1.0,)
    count = min(MAX_BLOCKS, -(-n_atoms // BLOCK_ATOMS))
    return BLOCKS if count <= len(BLOCKS) else (1.0 / count,) * count


def block_starts(n_atoms, fractions):
    """First atom of every block (and n_atoms): the given fractions of n_atoms, empty blocks dropped."""
    sizes = np.diff(np.round(np.cumsum([0.0] + list(fractions)) / sum(fractions) * n_atoms).astype(int))
    return np.concatenate([[0], np.cumsum(sizes[sizes > 0])])


def _sorted_counts(mask):
    """(order (S, N) of every structure's atoms by neighbour count (mask (S, N, K)), stable; the sorted counts)."""
    counts = mask.sum(axis=-1)
    order = np.argsort(counts, axis=1, kind="stable")
    return order, np.take_along_axis(counts, order, axis=1)


def _slots_of_blocks(sorted_counts, starts, most):
    """Slots each block needs (slots_for of its largest count, at most `most`) over the structures given."""
    return tuple(min(most, nbmod.slots_for(max(1, int(sorted_counts[:, b - 1].max())))) for b in starts[1:])


def slots_of_blocks(mask, fractions):
    """Slots each block of atoms needs (block_neighbors) in the structures of mask (S, N, K)."""
    return _slots_of_blocks(_sorted_counts(mask)[1], block_starts(mask.shape[1], fractions), mask.shape[2])


def block_slots(ds, fractions):
    """{k: slots of each block} for every slot count k that a batch of ds may need (slots_needed): the
    slots that hold the atoms of every structure needing at most k slots, block by block. Batches that
    take their blocks' slots from here compile once per k, as trimmed batches do."""
    starts = block_starts(ds.neighbors.mask.shape[1], fractions)
    need = slots_needed(ds)
    sorted_counts = _sorted_counts(ds.neighbors.mask)[1]
    return {int(k): _slots_of_blocks(sorted_counts[need <= k], starts, int(k)) for k in np.unique(need)}


def in_blocks(neighbors, shifts, valid, reverse, starts, slots, sort=True):
    """One structure's neighbour list (N, K) in blocks of atoms (JAX; traceable, vmappable): the atoms
    sorted by their count of `valid` pairs (stable; input order when not `sort`), block b holding atoms
    starts[b]:starts[b + 1] with slots[b] slots, the valid pairs moved to the first slots of each row.
    Returns (order (N,): the input atom of every new atom, inverse: the new atom of every input atom, both
    None when not `sort`; (neighbors, shifts, mask, reverse) as tuples of (n_b, slots[b]) blocks in new atom
    indices, reverse indexing all blocks' edges flattened: eqt_model.model.Graph). Rows with more valid
    pairs than their block's slots are cut: the callers size the slots (slots_of_blocks) or check them."""
    n, k = neighbors.shape
    starts, slots = np.asarray(starts), np.asarray(slots)
    order = inverse = None
    if sort:
        order = jnp.argsort(jnp.sum(valid, axis=1), stable=True).astype(neighbors.dtype)
        inverse = jnp.zeros(n, order.dtype).at[order].set(jnp.arange(n, dtype=order.dtype))
        valid, neighbors, shifts, reverse = valid[order], neighbors[order], shifts[order], reverse[order]

    def new_atom(i):
        return i if inverse is None else inverse[i]

    by_slot = jnp.argsort(~valid, axis=1, stable=True)  # per new atom: the valid pairs first
    slot_of = jnp.argsort(by_slot, axis=1)  # old slot -> new slot
    block = np.repeat(np.arange(len(slots)), np.diff(starts))
    edge_start = np.concatenate([[0], np.cumsum(np.diff(starts) * slots)])
    first_edge = jnp.asarray(edge_start[block] + (np.arange(n) - starts[block]) * slots[block], reverse.dtype)
    out = ([], [], [], [])
    for lo, hi, c in zip(starts[:-1], starts[1:], slots):
        sel = by_slot[lo:hi, :c]
        mask = jnp.take_along_axis(valid[lo:hi], sel, axis=1)
        rows = jnp.arange(lo, hi, dtype=neighbors.dtype)[:, None]
        j = new_atom(jnp.take_along_axis(neighbors[lo:hi], sel, axis=1))
        old = jnp.take_along_axis(reverse[lo:hi], sel, axis=1)  # flat index i * K + k' of the reverse edge
        back = new_atom(old // k)
        for field, value in zip(out, (jnp.where(mask, j, rows),
                                      jnp.where(mask[..., None], jnp.take_along_axis(shifts[lo:hi], sel[..., None], axis=1), 0),
                                      mask,
                                      jnp.where(mask, first_edge[back] + slot_of[back, old % k], 0).astype(reverse.dtype))):
            field.append(value)
    return order, inverse, tuple(tuple(field) for field in out)


@functools.partial(jax.jit, static_argnums=(4, 5))
def _in_blocks_of_structures(neighbors, shifts, valid, reverse, starts, slots):
    order, _, fields = jax.vmap(lambda *a: in_blocks(*a, starts, slots))(neighbors, shifts, valid, reverse)
    return order, fields


def block_neighbors(nb, fractions, slots=None):
    """Neighbour lists (arrays with a leading structure axis S) with every structure's atoms sorted by
    neighbour count (stable) and split into blocks of the given fractions of the atoms (the same sizes
    in every structure), each with the slots its atoms need in any structure (slots_for), or the given
    `slots` per block (block_slots). Returns (order (S, N): the old index of every new atom, Neighbors
    whose fields are tuples of blocks in new atom indices (in_blocks), as NumPy arrays)."""
    starts = block_starts(nb.mask.shape[1], fractions)
    needed = slots_of_blocks(nb.mask, fractions)
    if slots is None:
        slots = needed
    elif len(slots) != len(needed) or any(k < need or k > nb.mask.shape[2] for k, need in zip(slots, needed)):
        raise ValueError(f"block slots {tuple(slots)} do not hold these structures (they need {needed}, "
                         f"at most {nb.mask.shape[2]})")
    order, fields = _in_blocks_of_structures(*nb, tuple(int(i) for i in starts), tuple(int(k) for k in slots))
    return np.asarray(order), nbmod.Neighbors(*(tuple(np.asarray(b) for b in field) for field in fields))


def blocked(ds, fractions, slots=None):
    """The Dataset in blocks of atoms (block_neighbors): the atoms that have few neighbours no longer
    pay for the slots of the most crowded one (attention costs about K^2). Positions, species, masks,
    forces and numbers follow the new atom order (the model is permutation invariant)."""
    perm, blocks = block_neighbors(ds.neighbors, fractions, slots)
    rows = np.arange(len(perm))[:, None]
    numbers = [np.asarray(z)[p[p < len(z)]] for z, p in zip(ds.numbers, perm)]
    return ds._replace(positions=ds.positions[rows, perm], species=ds.species[rows, perm],
                       atom_mask=ds.atom_mask[rows, perm], neighbors=blocks, forces=ds.forces[rows, perm],
                       numbers=numbers)


def subset(ds, index):
    """The structures `index` of a Dataset."""
    index = np.asarray(index)
    nb = nbmod.Neighbors(*[a[index] for a in ds.neighbors])
    return Dataset(ds.positions[index], ds.cells[index], ds.species[index], ds.atom_mask[index], nb,
                   ds.energy[index], ds.forces[index], ds.n_atoms[index], [ds.numbers[i] for i in index])
