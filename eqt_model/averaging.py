"""Rotational averaging as a function transform, and the spread over rotations.

For rotations R_k with weights w_k (eqt_model.rotations.grid):
    E_avg(x) = sum_k w_k E(x R_k^T)                 (positions and cell rotated together)
    F_avg(x) = sum_k w_k F(x R_k^T) R_k             (forces rotated back)  = -grad E_avg
The spread is the weighted standard deviation over k of E and of the back-rotated forces.
For eqt models all rotations go through vmapped, jitted calls, in chunks sized to a memory
budget (2 GiB of work space: about 20 rotations per call for 192 atoms, 2 for 1536). Inputs are never modified.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import model


def _rotated_energy_and_forces(params, config, graph, rotation):
    g = graph._replace(positions=graph.positions @ rotation.T, cell=graph.cell @ rotation.T)
    e, f = model.energy_and_forces(params, config, g)
    return e, f @ rotation


@functools.partial(jax.jit, static_argnums=1)
def _batch(params, config, graph, rotations):
    return jax.vmap(_rotated_energy_and_forces, in_axes=(None, None, None, 0))(params, config, graph, rotations)


MEMORY_BUDGET = 2 * 2**30  # bytes of work space per batched call


def rotations_per_call(graph, config, budget=MEMORY_BUDGET):
    """How many rotations fit one batched call: the attention work space of one evaluation
    with forces is about 8 bytes x 6 x N x (K + 1)^2 x heads per transformer layer."""
    n, k = graph.neighbors.shape
    per_rotation = 8 * 6 * n * (k + 1) ** 2 * config.n_heads * config.n_transformer_layers
    return max(1, int(budget // per_rotation))


def over_rotations(params, config, graph, rotations, chunk=None):
    """Energies (n,) and back-rotated forces (n, N, 3) of the structure under each rotation,
    in batched calls of `chunk` rotations (default: as many as fit MEMORY_BUDGET)."""
    chunk = chunk or rotations_per_call(graph, config)
    rotations = jnp.asarray(rotations, dtype=graph.positions.dtype)
    es, fs = [], []
    for lo in range(0, len(rotations), chunk):
        part = rotations[lo:lo + chunk]
        if len(part) < chunk and len(rotations) > chunk:  # keep one shape: pad with the identity
            part = jnp.concatenate([part, jnp.broadcast_to(jnp.eye(3, dtype=part.dtype), (chunk - len(part), 3, 3))])
        e, f = _batch(params, config, graph, part)
        n = min(chunk, len(rotations) - lo)
        es.append(np.asarray(e)[:n])
        fs.append(np.asarray(f)[:n])
    return np.concatenate(es), np.concatenate(fs)


def averaged(energies, forces, weights):
    """(E_avg, F_avg, std of E, std of F per component (N, 3)) from per-rotation values."""
    w = np.asarray(weights, float)
    e_avg = w @ energies
    f_avg = np.einsum("k,kna->na", w, forces)
    e_std = np.sqrt(max(0.0, w @ (energies - e_avg) ** 2))
    f_std = np.sqrt(np.einsum("k,kna->na", w, (forces - f_avg) ** 2))
    return float(e_avg), f_avg, float(e_std), f_std
