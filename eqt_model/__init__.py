"""eqt_model: an unconstrained (not exactly rotation-invariant) JAX transformer potential.

Practices: parameters are plain nested dicts of arrays; the architecture is a pure function
of (params, config, graph); forces come from one jax.grad; neighbour lists are built outside
jit with a fixed, padded capacity; float32 by default (enable float64 with
jax.config.update("jax_enable_x64", True) before building arrays).
"""
