"""Potentials for MD (eqt_model.md): an eqt model (plain, averaged on a grid, randomly rotated) as a pure JAX
function over an MD neighbour list, and any ASE calculator through a host callback.

An MD neighbour list holds every pair within cutoff + skin of the positions it was built at (the reference);
it stays valid while no atom has moved more than half the skin from there. It is built on the host by ASE's
O(N) search (eqt_model.neighbors) at the capacity its pairs need. At every evaluation the model keeps only the
pairs within the cutoff (:func:`compact`: the model's cost grows with the square of the slots per atom, and
the skin would double them); from data.BLOCK_FROM_ATOMS atoms on, the atoms are sorted by those pairs and cut
into blocks (data.fractions_for) of their own slot counts, as calculator.Potential evaluates structures. More
pairs than a block's slots is an overflow. md.stale asks
:meth:`NeighborList.invalid` inside the jitted loop, and the host rebuilds the list, with more slots after an
overflow: nothing is ever truncated.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import averaging, data, model
from . import neighbors as nbmod
from .rotations import random_rotations


class NeighborList(NamedTuple):
    """A padded neighbour list for a fixed cell (a pytree; see eqt_model.neighbors for the first four)."""
    neighbors: jax.Array  # (N, K) int32
    shifts: jax.Array  # (N, K, 3) integer lattice shifts, as floats
    mask: jax.Array  # (N, K) bool
    reverse: jax.Array  # (N, K) int32
    cell: jax.Array  # (3, 3) Å, rows = lattice vectors; zeros for an open system
    reference: jax.Array  # (N, 3) Å, the positions it was built at
    half_skin: jax.Array  # () Å
    cutoff: jax.Array  # () Å
    slots: tuple  # zeros (C_b,) per block of atoms (data.fractions_for): their shapes are the compacted blocks' slots

    def within(self, positions):
        """(N, K) bool: which listed pairs are closer than the cutoff at these positions."""
        d = positions[self.neighbors] - positions[:, None, :] + self.shifts @ self.cell
        return self.mask & (jnp.sum(d * d, axis=-1) < self.cutoff ** 2)

    def invalid(self, positions):
        """Must the list be rebuilt before an evaluation at these positions? (an atom moved more than half
        the skin, or a block of atoms, sorted by their pairs within the cutoff, has more than its slots)"""
        moved = jnp.max(jnp.sum((positions - self.reference) ** 2, axis=-1)) > self.half_skin ** 2
        counts = jnp.sort(jnp.sum(self.within(positions), axis=1))
        starts = _block_starts(self)
        over = [counts[hi - 1] > s.shape[0] for hi, s in zip(starts[1:], self.slots)]
        return moved | jnp.any(jnp.stack(over))

    def holds_all_pairs(self):
        """True when every block has as many slots as the list has pairs per atom (more cannot help)."""
        return all(s.shape[0] >= self.neighbors.shape[1] for s in self.slots)


def _block_starts(nb):
    """First atom of every block of the compacted list (and N): static, from N alone."""
    n = nb.neighbors.shape[0]
    return data.block_starts(n, data.fractions_for(n))


def neighbor_list(positions, cell, pbc, cutoff, skin, capacity=0, slots=0, dtype=None):
    """A NeighborList of pairs within cutoff + skin (Å) of positions (N, 3); cell (3, 3) or None (open).
    Its capacity and each block's slots are at least ``capacity`` and ``slots`` (one number for every block,
    or one per block) and at least what the pairs within cutoff + skin and within cutoff need at these
    positions (eqt_model.neighbors.capacity_for; data.slots_of_blocks), so a list passed back in keeps its
    shapes (no recompilation) unless they must grow. dtype: of its lengths (default: JAX's default float)."""
    positions = np.asarray(positions, float)
    periodic = cell is not None and bool(np.any(pbc))
    cell_arg = np.asarray(cell, float) if periodic else None
    pbc_arg = pbc if periodic else False
    capacity = max(capacity, nbmod.capacity_for(nbmod.count_max(positions, cell_arg, pbc_arg, cutoff + skin)))
    nb = nbmod.build(positions, cell_arg, pbc_arg, cutoff + skin, capacity)
    cell_rows = cell_arg if periodic else np.zeros((3, 3))
    d = positions[nb.neighbors] - positions[:, None, :] + nb.shifts @ cell_rows
    # pairs up to 1e-3 Å beyond the cutoff count too: a pair that float32 rounding puts inside the cutoff in the
    # jitted model still finds a slot at the first evaluation (later ones are checked by NeighborList.invalid)
    within = nb.mask & (np.sum(d * d, axis=-1) < (cutoff + 1e-3) ** 2)
    needed = data.slots_of_blocks(within[None], data.fractions_for(len(positions)))
    least = np.broadcast_to(np.asarray(slots, int), (len(needed),))
    dtype = dtype or jnp.result_type(float)
    return NeighborList(jnp.asarray(nb.neighbors), jnp.asarray(nb.shifts, dtype), jnp.asarray(nb.mask),
                        jnp.asarray(nb.reverse), jnp.asarray(cell_rows, dtype),
                        jnp.asarray(positions, dtype), jnp.asarray(0.5 * skin, dtype), jnp.asarray(cutoff, dtype),
                        tuple(jnp.zeros(min(max(int(a), b), capacity), jnp.int8) for a, b in zip(least, needed)))


def slot_counts(nb):
    """The slots of each block of a NeighborList, as a tuple of ints (to pass back to neighbor_list)."""
    return tuple(s.shape[0] for s in nb.slots)


def rebuilder(cutoff, skin, pbc):
    """``rebuild(positions, old, more_slots=False) -> NeighborList`` at the old list's cell (periodic when it
    has one), dtype and (at least) shapes; ``more_slots`` doubles the slots of every block."""
    def rebuild(positions, old, more_slots=False):
        cell = np.asarray(old.cell) if np.any(np.asarray(old.cell)) else None
        return neighbor_list(np.asarray(positions), cell, pbc, cutoff, skin, old.neighbors.shape[1],
                             np.asarray(slot_counts(old)) * (2 if more_slots else 1), old.cell.dtype)
    return rebuild


def compact(nb, positions):
    """The model's input from the list (data.in_blocks): the pairs within the cutoff at these positions, the
    atoms sorted by them (not sorted when there is one block) and cut into the list's blocks. Returns (order,
    inverse, blocks) as data.in_blocks does. Rows with more pairs than their block's slots are cut, which
    NeighborList.invalid reports before."""
    slots = slot_counts(nb)
    within = nb.within(jax.lax.stop_gradient(positions))
    return data.in_blocks(nb.neighbors, nb.shifts, within, nb.reverse, _block_starts(nb), slots, sort=len(slots) > 1)


def _graph(x, neighbors, species):
    """(Graph, inverse): the model's input at positions x (compact), and the graph atom of every input atom
    (None: one block, in the input order)."""
    order, inverse, blocks = compact(neighbors, x)
    if order is None:
        return model.Graph(x, neighbors.cell, species, *(field[0] for field in blocks)), None
    return model.Graph(x[order], neighbors.cell, species[order], *blocks), inverse


def model_potential(params, config, species, grid=None, random_rotation=False, per_call=1):
    """An eqt model as an MD potential. species (N,) indices into config.species. grid: a rotations.Grid to
    average over (None: plain); random_rotation: rotate the structure by a fresh random rotation drawn from the
    step's key at every evaluation (with grid: the grid turned by it). per_call: rotations evaluated together
    at each step of the loop over the grid (averaging.rotated, averaging.rotations_per_step)."""
    species = jnp.asarray(species)

    def in_graph_order(x, neighbors, key):
        graph, inverse = _graph(x, neighbors, species)
        q = random_rotations(key, 1)[0].astype(x.dtype) if random_rotation else None
        if grid is None:
            if q is None:
                return model.energy_and_forces(params, config, graph), inverse
            return averaging._rotated_energy_and_forces(params, config, graph, q), inverse
        r = jnp.asarray(grid.rotations, x.dtype)
        if q is not None:
            r = r @ q
        e, f = averaging.rotated(params, config, graph, r, per_call)
        w = jnp.asarray(grid.weights, x.dtype)
        return (jnp.sum(w * e), jnp.einsum("k,kad->ad", w, f)), inverse

    def potential(x, neighbors, key):
        (e, f), inverse = in_graph_order(x, neighbors, key)
        return e, f if inverse is None else f[inverse]
    return potential


def calculator_potential(calculator, numbers, cell, pbc, grid=None, random_rotation=False):
    """Any ASE calculator as an MD potential, called on the host (jax.pure_callback; float64 there), averaged
    by rotating the structure over grid (calculator.ase_evaluator) and/or by a fresh random rotation from the
    step's key. numbers (N,); cell (3, 3) Å or None (open); pbc (3,)."""
    from .calculator import ase_evaluator
    evaluate = ase_evaluator(calculator)
    rots = np.eye(3)[None] if grid is None else np.asarray(grid.rotations, float)
    weights = np.ones(1) if grid is None else np.asarray(grid.weights, float)
    cell = None if cell is None or not np.any(pbc) else np.asarray(cell, float)

    def host(x, q):
        e, f = evaluate(np.asarray(x, float), cell, numbers, pbc, rots @ np.asarray(q, float))
        return np.asarray(weights @ e, x.dtype), np.einsum("k,kad->ad", weights, f).astype(x.dtype)

    def potential(x, neighbors, key):
        q = random_rotations(key, 1)[0].astype(x.dtype) if random_rotation else jnp.eye(3, dtype=x.dtype)
        shapes = (jax.ShapeDtypeStruct((), x.dtype), jax.ShapeDtypeStruct(x.shape, x.dtype))
        return jax.pure_callback(host, shapes, x, q)
    return potential
