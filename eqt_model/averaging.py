"""Rotational averaging and random rotation as function transforms; eqt models under rotations.

A model enters as `evaluate(positions, cell, numbers, pbc, rotations) -> (energies (n,) eV,
forces (n, N, 3) eV/Å)`: its values on the structure rotated by each R_k (positions and cell
x R_k^T), the forces rotated back (F R_k). `over_rotations` is that for eqt models, in one jitted call
that loops over the rotations (`rotated`), several at a time for structures of fewer than
ATOMS_PER_STEP atoms (as many as a memory budget, `per_call`, holds); calculator.ase_evaluator for any ASE
calculator. The transforms:

    average(evaluate, grid) -> energy_and_forces(positions, cell, numbers, pbc) -> (E, F)
        E_avg(x) = sum_k w_k E(x R_k^T),  F_avg(x) = sum_k w_k F(x R_k^T) R_k = -grad E_avg
    randomly_rotated(evaluate, seed) -> evaluate with a fresh random rotation Q at every call
        (R_k -> R_k Q: the structure is rotated by Q first)

so the plain model is average(evaluate, rotations.IDENTITY) and the paper's randomly rotated
model average(randomly_rotated(evaluate), rotations.IDENTITY). `spread` is the (weighted)
standard deviation over rotations. Inputs are never modified.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import compiled, model
from .rotations import random_rotations


def _rotated_energy_and_forces(params, config, graph, rotation):
    g = graph._replace(positions=graph.positions @ rotation.T, cell=graph.cell @ rotation.T)
    e, f = model.energy_and_forces(params, config, g)
    return e, f @ rotation


def rotated(params, config, graph, rotations, batch=1):
    """Energies (n,) and back-rotated forces (n, N, 3) under each of the rotations (n, 3, 3), in a loop
    (lax.map) that evaluates `batch` rotations together (vmapped) at each step; batch=1: one at a
    time, without vmap. Traceable (the MD potential calls it inside its own jit)."""
    def one(rotation):
        return _rotated_energy_and_forces(params, config, graph, rotation)
    return jax.lax.map(one, rotations, batch_size=None if batch == 1 else batch)


_batch = compiled.jit(rotated, static_argnums=(1, 4))


@functools.partial(compiled.jit, static_argnums=1)
def _single(params, config, graph, rotation):
    """One rotation, without the loop of `rotated` (the plain or a randomly rotated model)."""
    e, f = _rotated_energy_and_forces(params, config, graph, rotation)
    return e[None], f[None]


DEFAULT_MEMORY_MB = 1024  # work space (MB = 2**20 bytes) of one batched call, without the process itself
# Rotations evaluated together at each step of `rotated`: about ATOMS_PER_STEP atoms' worth. On a 2-core CPU,
# the 36 rotations of grid 2i (small preset, float32) cost so many plain evaluations, one rotation per
# step / b rotations per step: 1 water 4.8 / 3.5 (b 4-12), 4 waters 10.6 / 9.5 (b 36), 16 waters
# 23.5 / 17.3-18.7 (b 4-18), 64 waters 30.6 / 31.3-34.4 (b 2-9), 512 waters 34.9 / 36.0 (b 2)
# (benchmarks/README.md).
ATOMS_PER_STEP = 192

# Work space of one evaluation with forces, in values kept per token (one token per atom and
# per neighbour slot or central slot: N x (K + 1) of them), d = d_model, H = n_heads, M message
# and T transformer layers; the activations that the backward pass keeps (attention scores and
# weights, feed-forward and token rows) plus the edge geometry:
#     M x (T x (4 H (K + 1) + 4 d_ff + 5 d) + 10 d) + 800
# Fitted to the peak RSS increase of one jitted, vmapped call (fresh process, after compiling)
# over 1-8 rotations, float32 and float64, N = 192 and 384 water atoms, K = 40, 43 and 88 slots,
# d 32-128, d_ff 64-512, H 4-8, M 2-4, T 1-2 (benchmarks/bench_memory.py): the formula is
# 5-12 % above every measurement, e.g. 215 MB for 193 MB measured (example model, 192 atoms,
# K = 40, float64). A training step keeps about TRAIN_FACTOR times as much per structure (the
# parameter gradient of the force loss differentiates the force evaluation once more; measured
# 2.6-2.8x for the small preset and variants).
TRAIN_FACTOR = 3


def per_call(memory_mb, config, n_atoms, n_slots, itemsize=8, factor=1):
    """How many evaluations with forces (rotations or structures of n_atoms atoms and n_slots
    neighbour slots, values of itemsize bytes) fit memory_mb MB of work space in one batched
    call; at least 1. factor=TRAIN_FACTOR for training steps."""
    tokens = n_atoms * (n_slots + 1)
    values = config.n_message_layers * (
        config.n_transformer_layers * (4 * config.n_heads * (n_slots + 1) + 4 * config.d_feedforward + 5 * config.d_model)
        + 10 * config.d_model) + 800
    return max(1, int(memory_mb * 2**20 // (factor * itemsize * tokens * values)))


def rotations_per_step(n_atoms, n_rotations, most):
    """Rotations of a structure of n_atoms atoms to evaluate together at each step of `rotated`:
    ATOMS_PER_STEP atoms' worth, at least 1, at most `most` (what the memory budget holds, per_call)
    and n_rotations."""
    return max(1, min(n_rotations, ATOMS_PER_STEP // n_atoms, most))


def rotations_per_call(graph, config, memory=DEFAULT_MEMORY_MB):
    """Rotations of one structure (a Graph) per batched call within `memory` MB of work space (for a
    Graph in blocks of atoms, as if every atom had the most slots of any block: an upper bound)."""
    mask = model.blocks_of(graph)[2]
    n, k = sum(m.shape[0] for m in mask), max(m.shape[1] for m in mask)
    return per_call(memory, config, n, k, graph.positions.dtype.itemsize)


def over_rotations(params, config, graph, rotations, chunk=None, memory=DEFAULT_MEMORY_MB):
    """Energies (n,) and back-rotated forces (n, N, 3) of the structure under each rotation, in one
    call that evaluates `chunk` rotations at a time (default: rotations_per_step within `memory` MB
    of work space). The numbers do not depend on the chunking. One compilation per number of rotations."""
    rotations = jnp.asarray(rotations, dtype=graph.positions.dtype)
    if len(rotations) == 1:  # the plain or a randomly rotated model
        e, f = _single(params, config, graph, rotations[0])
        return np.asarray(e), np.asarray(f)
    n_atoms = len(graph.positions)
    batch = min(len(rotations), chunk or rotations_per_step(n_atoms, len(rotations), rotations_per_call(graph, config, memory)))
    e, f = _batch(params, config, graph, rotations, batch)
    return np.asarray(e), np.asarray(f)


def mean(values, weights):
    """Weighted mean over rotations (axis 0) of values (n, ...)."""
    return np.einsum("k,k...->...", np.asarray(weights, float), values)


def spread(values, weights=None):
    """Standard deviation over rotations (axis 0) of values (n, ...), weighted (default: equal
    weights): zero for an invariant model (energies) or an equivariant one (back-rotated forces)."""
    w = np.full(len(values), 1.0 / len(values)) if weights is None else weights
    return np.sqrt(np.maximum(0.0, mean((values - mean(values, w)) ** 2, w)))


def average(evaluate, grid):
    """The rotational average over `grid` (a rotations.Grid) of the model `evaluate`: a function
    (positions, cell, numbers, pbc) -> (E eV, F (N, 3) eV/Å)."""
    def energy_and_forces(positions, cell, numbers, pbc):
        energies, forces = evaluate(positions, cell, numbers, pbc, grid.rotations)
        return float(mean(energies, grid.weights)), mean(forces, grid.weights)
    return energy_and_forces


def randomly_rotated(evaluate, seed=0):
    """`evaluate` with a fresh uniformly random rotation Q (rotations.random_rotations, seeded)
    applied first at every call: rotations R_k become R_k Q, forces still come back to the
    caller's frame."""
    key = jax.random.PRNGKey(seed)

    def rotated(positions, cell, numbers, pbc, rots):
        nonlocal key
        key, draw = jax.random.split(key)
        q = np.asarray(random_rotations(draw, 1)[0], float)
        return evaluate(positions, cell, numbers, pbc, np.asarray(rots) @ q)
    return rotated
