"""A PET-like point-edge transformer potential in JAX: plain-dict params, pure functions.

For each atom i the sequence [central token, one token per neighbour j within r_c] goes
through transformer layers. Edge tokens are built from the raw displacement vector r_ij,
its length and the neighbour's species (so the model sees Cartesian directions and is not
rotation invariant by construction); from the second message-passing layer on, each edge
token also receives the previous layer's output token of the reversed edge j -> i.
Attention weights are multiplied by the smooth cutoff f_c(r_ij) and renormalized, so atoms
crossing r_c enter and leave smoothly. Every message-passing layer adds atomic energies
(from the central token) and bond energies (edge tokens, weighted by f_c):

    E = sum_i [ scale * (sum_l e_l(i) + sum_l sum_j f_c(r_ij) b_l(ij)) + E_ref(Z_i) ]

Forces are -dE/dx by one jax.grad. Translation and permutation invariant by construction.
Shapes: N atoms, K neighbour slots (padded), d = d_model. Lengths Å, energies eV.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Graph(NamedTuple):
    """One structure, padded for jit: arrays only (a pytree)."""

    positions: jnp.ndarray  # (N, 3) Å
    cell: jnp.ndarray  # (3, 3) Å, rows are lattice vectors (zeros for open systems)
    species: jnp.ndarray  # (N,) index into config.species
    neighbors: jnp.ndarray  # (N, K) int
    shifts: jnp.ndarray  # (N, K, 3) integer lattice shifts
    mask: jnp.ndarray  # (N, K) bool
    reverse: jnp.ndarray  # (N, K) flat index of the reverse edge
    # Or atoms in blocks of their own slot counts (eqt_model.data.block_neighbors): the last four fields
    # are then tuples of (n_b, k_b[, 3]) arrays, block b holding the next n_b atoms, and reverse
    # indexes the edges of all blocks, flattened one after another.


def blocks_of(graph):
    """(neighbors, shifts, mask, reverse) of a Graph as tuples of blocks (one block: N, K)."""
    fields = graph.neighbors, graph.shifts, graph.mask, graph.reverse
    return fields if isinstance(graph.neighbors, tuple) else tuple((f,) for f in fields)


# ----------------------------------------------------------------------------- building blocks
def _dense_init(key, n_in, n_out):
    return {"w": jax.random.normal(key, (n_in, n_out)) / np.sqrt(n_in), "b": jnp.zeros(n_out)}


def _dense(p, x):
    return x @ p["w"] + p["b"]


def _mlp_init(key, sizes):
    keys = jax.random.split(key, len(sizes) - 1)
    return [_dense_init(k, a, b) for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def _mlp(p, x, act):
    for layer in p[:-1]:
        x = act(_dense(layer, x))
    return _dense(p[-1], x)


def _zero_last(mlp):
    """Heads start at zero output: an untrained model gives the reference energies, zero forces
    (training then starts from a sensible point instead of random eV-size energies)."""
    mlp[-1] = {"w": jnp.zeros_like(mlp[-1]["w"]), "b": jnp.zeros_like(mlp[-1]["b"])}
    return mlp


def _norm_init(d):
    return {"scale": jnp.ones(d), "bias": jnp.zeros(d)}


def _norm(p, x):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-6) * p["scale"] + p["bias"]


def _activation(name):
    return {"silu": jax.nn.silu, "gelu": jax.nn.gelu}[name]


def cutoff_function(r, cutoff, width):
    """1 below cutoff - width, a cosine switch to 0 at cutoff, 0 beyond."""
    x = jnp.clip((r - (cutoff - width)) / width, 0.0, 1.0)
    return 0.5 * (1.0 + jnp.cos(jnp.pi * x))


def radial_basis(r, config):
    """config.n_radial Gaussians of r (Å), centres evenly spaced on [0, r_c], width = spacing."""
    if not config.n_radial:
        return jnp.zeros(r.shape + (0,), r.dtype)
    centres = jnp.linspace(0.0, config.cutoff, config.n_radial, dtype=r.dtype)
    width = config.cutoff / max(1, config.n_radial - 1)
    return jnp.exp(-(((r[..., None] - centres) / width) ** 2))


# ----------------------------------------------------------------------------- parameters
def init(key, config, zero_heads=True):
    """Random parameters (nested dicts of arrays) for a ModelConfig. With zero_heads the last
    layer of every energy head starts at zero (the model starts at the reference energies);
    zero_heads=False gives a fully random model (for tests of its symmetries)."""
    head = _zero_last if zero_heads else (lambda mlp: mlp)
    d, n_species = config.d_model, len(config.species)
    keys = iter(jax.random.split(key, 4 + 8 * config.n_message_layers * (2 + config.n_transformer_layers)))
    layers = []
    for _ in range(config.n_message_layers):
        blocks = [{"norm_attention": _norm_init(d),
                   "query": _dense_init(next(keys), d, d), "key": _dense_init(next(keys), d, d),
                   "value": _dense_init(next(keys), d, d), "out": _dense_init(next(keys), d, d),
                   "norm_feedforward": _norm_init(d),
                   "feedforward": _mlp_init(next(keys), [d, config.d_feedforward, d])}
                  for _ in range(config.n_transformer_layers)]
        layers.append({"geometry": _mlp_init(next(keys), [4 + config.n_radial, d, d]),
                       "reverse": _dense_init(next(keys), d, d),
                       "central": _dense_init(next(keys), d, d),
                       "transformer": blocks,
                       "norm_out": _norm_init(d),
                       "atomic_head": head(_mlp_init(next(keys), [d, d, 1])),
                       "bond_head": head(_mlp_init(next(keys), [d, d, 1]))})
    return {"embed_central": jax.random.normal(next(keys), (n_species, d)),
            "embed_neighbor": jax.random.normal(next(keys), (n_species, d)),
            "layers": layers,
            "output": {"scale": jnp.ones(()), "reference": jnp.zeros(n_species)}}


# ----------------------------------------------------------------------------- edge gathers
# Gathering along the neighbour list has a scatter-add as its derivative, which XLA runs slowly
# on CPUs. The list is symmetric (every edge i -> j has its reverse j -> i), so each transpose
# is again a gather through `reverse`: these pairs of custom derivatives give the same numbers
# (forces, and the force gradients of training) several times faster. They assume, as the model
# guarantees, that nothing flows out of padded edge slots.
def _flat(blocks):
    """The per-edge rows of all blocks, (n_b, k_b, C) each, as one (sum n_b k_b, C) array."""
    return jnp.concatenate([e.reshape(-1, e.shape[-1]) for e in blocks])


@jax.custom_vjp
def gather_neighbors(x, neighbors, reverse, mask):
    """x[neighbors] for each block: per-atom rows (N, C) -> per-edge rows (n_b, k_b, C)."""
    return tuple(x[nb] for nb in neighbors)


def _gather_neighbors_fwd(x, neighbors, reverse, mask):
    return gather_neighbors(x, neighbors, reverse, mask), (neighbors, reverse, mask)


def _gather_neighbors_bwd(res, g):
    return sum_over_reverse(g, *res), None, None, None


@jax.custom_vjp
def sum_over_reverse(g, neighbors, reverse, mask):
    """The transpose of gather_neighbors: out[j] = sum of g over the valid edges i -> j (the atoms
    of the blocks, in order, are the atoms 0..N-1)."""
    flat = _flat(g)
    return jnp.concatenate([jnp.sum(jnp.where(m[..., None], flat[r], 0), axis=1) for r, m in zip(reverse, mask)])


def _sum_over_reverse_fwd(g, neighbors, reverse, mask):
    return sum_over_reverse(g, neighbors, reverse, mask), (neighbors, reverse, mask)


def _sum_over_reverse_bwd(res, c):
    neighbors, reverse, mask = res
    return tuple(jnp.where(m[..., None], e, 0) for e, m in zip(gather_neighbors(c, *res), mask)), None, None, None


@jax.custom_vjp
def reverse_edges(e, reverse, mask):
    """Per-edge rows (n_b, k_b, C) of the reverse edges, zero on padded slots. Symmetric: its own
    transpose, as `reverse` is an involution on the valid edges."""
    flat = _flat(e)
    return tuple(jnp.where(m[..., None], flat[r], 0) for r, m in zip(reverse, mask))


def _reverse_edges_fwd(e, reverse, mask):
    return reverse_edges(e, reverse, mask), (reverse, mask)


def _reverse_edges_bwd(res, g):
    return reverse_edges(g, *res), None, None


gather_neighbors.defvjp(_gather_neighbors_fwd, _gather_neighbors_bwd)
sum_over_reverse.defvjp(_sum_over_reverse_fwd, _sum_over_reverse_bwd)
reverse_edges.defvjp(_reverse_edges_fwd, _reverse_edges_bwd)


# ----------------------------------------------------------------------------- the model
def _attention(block, x, weights, n_heads):
    """Multi-head self-attention over the token axis, weights (N, L) multiplying the softmax:
    out_l = sum_m e_lm w_m v_m / sum_m e_lm w_m with e_lm = exp(q_l . k_m / sqrt(d_h)). Written as two
    matrix products (numerator and denominator) so no (N, H, L, L) array of weights is formed: on a CPU
    the force-training gradient (the derivative of the forces) is ~1.2x faster; plain forces: within noise."""
    n, length, d = x.shape
    dh = d // n_heads

    def heads(t):
        return t.reshape(n, length, n_heads, dh).transpose(0, 2, 1, 3)

    q = heads(_dense(block["query"], x) * (1 / float(np.sqrt(dh))))  # a Python float keeps float32 under x64
    k, v = heads(_dense(block["key"], x)), heads(_dense(block["value"], x))
    scores = q @ k.transpose(0, 1, 3, 2)  # (N, H, L, L)
    e = jnp.exp(scores - jax.lax.stop_gradient(scores.max(-1, keepdims=True)))
    w = weights[:, None, :, None]
    out = (e @ (v * w)) / (e @ w)
    return _dense(block["out"], out.transpose(0, 2, 1, 3).reshape(n, length, d))


def edge_vectors(graph):
    """Displacements r_ij = x_j - x_i + S @ cell, (n_b, k_b, 3) Å per block; padded slots hold (1, 0, 0)."""
    x = graph.positions
    neighbors, shifts, mask, reverse = blocks_of(graph)
    gathered = gather_neighbors(x, neighbors, reverse, mask)
    out, start = [], 0
    for xj, s, m in zip(gathered, shifts, mask):
        vec = xj - x[start:start + len(m), None, :] + s @ graph.cell
        out.append(jnp.where(m[..., None], vec, jnp.array([1.0, 0.0, 0.0], dtype=x.dtype)))
        start += len(m)
    return tuple(out)


def atomic_energies(params, config, graph):
    """Energy contribution (eV) of every atom, composition reference included."""
    act = _activation(config.activation)
    neighbors, _, mask, reverse = blocks_of(graph)
    n_atoms = [len(m) for m in mask]
    starts = np.cumsum([0] + n_atoms)
    species = [graph.species[a:b] for a, b in zip(starts[:-1], starts[1:])]
    fc, geometry_in, neighbor0, weights = [], [], [], []
    for vec, nb, m, z in zip(edge_vectors(graph), neighbors, mask, species):
        r = jnp.sqrt(jnp.sum(vec**2, axis=-1))
        fc.append(cutoff_function(r, config.cutoff, config.cutoff_width) * m)
        geometry_in.append(jnp.concatenate([vec, r[..., None], radial_basis(r, config)], axis=-1))
        neighbor0.append(params["embed_neighbor"][graph.species[nb]])
        weights.append(jnp.concatenate([jnp.ones((len(m), 1), dtype=fc[-1].dtype), fc[-1]], axis=1))
    central0 = [params["embed_central"][z] for z in species]
    energy = [jnp.zeros(n, dtype=graph.positions.dtype) for n in n_atoms]
    prev_central, prev_edges = None, None
    for layer in params["layers"]:
        reversed_edges = None if prev_edges is None else reverse_edges(tuple(prev_edges), reverse, mask)
        centrals, edges_out = [], []
        for b in range(len(mask)):
            edges = _mlp(layer["geometry"], geometry_in[b], act) + neighbor0[b]
            central = central0[b]
            if prev_edges is not None:
                edges = edges + _dense(layer["reverse"], reversed_edges[b])
                central = central + _dense(layer["central"], prev_central[b])
            tokens = jnp.concatenate([central[:, None, :], edges], axis=1)
            for block in layer["transformer"]:
                tokens = tokens + _attention(block, _norm(block["norm_attention"], tokens), weights[b], config.n_heads)
                tokens = tokens + _mlp(block["feedforward"], _norm(block["norm_feedforward"], tokens), act)
            tokens = _norm(layer["norm_out"], tokens)
            centrals.append(tokens[:, 0])
            edges_out.append(tokens[:, 1:])
            energy[b] = energy[b] + _mlp(layer["atomic_head"], centrals[b], act)[:, 0]
            energy[b] = energy[b] + jnp.sum(_mlp(layer["bond_head"], edges_out[b], act)[..., 0] * fc[b], axis=1)
        prev_central, prev_edges = centrals, edges_out
    out = jax.lax.stop_gradient(params["output"])  # fitted from data, not trained
    return out["scale"] * jnp.concatenate(energy) + out["reference"][graph.species]


def energy(params, config, graph):
    """Total energy (eV)."""
    return jnp.sum(atomic_energies(params, config, graph))


def energy_and_forces(params, config, graph):
    """(energy eV, forces (N, 3) eV/Å): forces are -dE/dx from one jax.grad."""
    def of_positions(x):
        return energy(params, config, graph._replace(positions=x))

    e, grad = jax.value_and_grad(of_positions)(graph.positions)
    return e, -grad
