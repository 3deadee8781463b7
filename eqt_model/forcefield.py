"""Potentials for MD (eqt_model.md): an eqt model (plain, averaged on a grid, randomly rotated) as a pure JAX
function over an MD neighbour list, and any ASE calculator through a host callback.

An MD neighbour list holds every pair within cutoff + skin of the positions it was built at (the reference);
it stays valid while no atom has moved more than half the skin from there. It is built on the host by ASE's
O(N) search (eqt_model.neighbors) at the capacity its pairs need. At every evaluation the model keeps only the
pairs within the cutoff (:func:`compact`: the model's cost grows with the square of the slots per atom, and
the skin would double them), in ``slots`` slots per atom; more pairs than that is an overflow. md.stale asks
:meth:`NeighborList.invalid` inside the jitted loop, and the host rebuilds the list, with more slots after an
overflow: nothing is ever truncated.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import averaging, model
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
    slots: jax.Array  # (C,) zeros: its shape is the capacity of the compacted list

    def within(self, positions):
        """(N, K) bool: which listed pairs are closer than the cutoff at these positions."""
        d = positions[self.neighbors] - positions[:, None, :] + self.shifts @ self.cell
        return self.mask & (jnp.sum(d * d, axis=-1) < self.cutoff ** 2)

    def invalid(self, positions):
        """Must the list be rebuilt before an evaluation at these positions? (an atom moved more than half
        the skin, or more pairs within the cutoff than slots)"""
        moved = jnp.max(jnp.sum((positions - self.reference) ** 2, axis=-1)) > self.half_skin ** 2
        return moved | (jnp.max(jnp.sum(self.within(positions), axis=1)) > self.slots.shape[0])


def neighbor_list(positions, cell, pbc, cutoff, skin, capacity=0, slots=0, dtype=None):
    """A NeighborList of pairs within cutoff + skin (Å) of positions (N, 3); cell (3, 3) or None (open).
    Its capacity and slots are at least ``capacity`` and ``slots`` and at least what the pairs within cutoff
    + skin and within cutoff need (eqt_model.neighbors.capacity_for and slots_for), so a list passed back in keeps its
    shapes (no recompilation) unless they must grow. dtype: of its lengths (default: JAX's default float)."""
    positions = np.asarray(positions, float)
    periodic = cell is not None and bool(np.any(pbc))
    cell_arg = np.asarray(cell, float) if periodic else None
    pbc_arg = pbc if periodic else False
    capacity = max(capacity, nbmod.capacity_for(nbmod.count_max(positions, cell_arg, pbc_arg, cutoff + skin)))
    slots = max(slots, nbmod.slots_for(nbmod.count_max(positions, cell_arg, pbc_arg, cutoff)))
    nb = nbmod.build(positions, cell_arg, pbc_arg, cutoff + skin, capacity)
    dtype = dtype or jnp.result_type(float)
    return NeighborList(jnp.asarray(nb.neighbors), jnp.asarray(nb.shifts, dtype), jnp.asarray(nb.mask),
                        jnp.asarray(nb.reverse), jnp.asarray(cell_arg if periodic else np.zeros((3, 3)), dtype),
                        jnp.asarray(positions, dtype), jnp.asarray(0.5 * skin, dtype), jnp.asarray(cutoff, dtype),
                        jnp.zeros(min(slots, capacity), jnp.int8))


def rebuilder(cutoff, skin, pbc):
    """``rebuild(positions, old, more_slots=False) -> NeighborList`` at the old list's cell (periodic when it
    has one), dtype and (at least) shapes; ``more_slots`` doubles its slots."""
    def rebuild(positions, old, more_slots=False):
        cell = np.asarray(old.cell) if np.any(np.asarray(old.cell)) else None
        return neighbor_list(np.asarray(positions), cell, pbc, cutoff, skin, old.neighbors.shape[1],
                             old.slots.shape[0] * (2 if more_slots else 1), old.cell.dtype)
    return rebuild


def compact(nb, positions):
    """The pairs within the cutoff moved to the first ``slots`` slots of each row: (neighbors, shifts, mask,
    reverse) of shape (N, C) for the model (eqt_model.neighbors' layout; rows with more pairs than C are cut,
    which NeighborList.invalid reports before)."""
    n, k = nb.neighbors.shape
    c = nb.slots.shape[0]
    within = nb.within(jax.lax.stop_gradient(positions))
    order = jnp.argsort(~within, axis=1, stable=True)  # pairs within the cutoff first, in list order
    slot_of = jnp.argsort(order, axis=1)  # old slot -> new slot
    sel = order[:, :c]
    mask = jnp.take_along_axis(within, sel, axis=1)
    rows = jnp.arange(n)[:, None]
    neighbors = jnp.where(mask, jnp.take_along_axis(nb.neighbors, sel, axis=1), rows)
    shifts = jnp.where(mask[..., None], jnp.take_along_axis(nb.shifts, sel[..., None], axis=1), 0)
    old = jnp.take_along_axis(nb.reverse, sel, axis=1)  # flat index j * k + k' of the reverse edge
    j, back = old // k, old % k
    reverse = jnp.where(mask, j * c + slot_of[j, back], 0).astype(nb.reverse.dtype)
    return neighbors, shifts, mask, reverse


def _graph(x, neighbors, species):
    return model.Graph(x, neighbors.cell, species, *compact(neighbors, x))


def model_potential(params, config, species, grid=None, random_rotation=False, per_call=1):
    """An eqt model as an MD potential. species (N,) indices into config.species. grid: a rotations.Grid to
    average over (None: plain); random_rotation: rotate the structure by a fresh random rotation drawn from the
    step's key at every evaluation (with grid: the grid turned by it). per_call: rotations per vmapped batch
    (averaging.per_call); the batches run one after the other (lax.map)."""
    species = jnp.asarray(species)
    if grid is not None:
        n = len(grid.rotations)
        per_call = -(-n // -(-n // per_call))  # as many batches as per_call needs, evened out (less padding)
        pad = -n % per_call  # identity rotations of weight 0 fill the last batch
        rots = np.concatenate([np.asarray(grid.rotations, float), np.broadcast_to(np.eye(3), (pad, 3, 3))])
        weights = np.concatenate([np.asarray(grid.weights, float), np.zeros(pad)])

    def potential(x, neighbors, key):
        graph = _graph(x, neighbors, species)
        q = random_rotations(key, 1)[0].astype(x.dtype) if random_rotation else None
        if grid is None:
            if q is None:
                return model.energy_and_forces(params, config, graph)
            return averaging._rotated_energy_and_forces(params, config, graph, q)
        r = jnp.asarray(rots, x.dtype)
        if q is not None:
            r = r @ q
        batches = r.reshape(-1, per_call, 3, 3)

        def one_batch(rb):
            return jax.vmap(averaging._rotated_energy_and_forces, in_axes=(None, None, None, 0))(
                params, config, graph, rb)
        e, f = jax.lax.map(one_batch, batches)
        w = jnp.asarray(weights, x.dtype)
        return jnp.sum(w * e.reshape(-1)), jnp.einsum("k,kad->ad", w, f.reshape(-1, *x.shape))
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
