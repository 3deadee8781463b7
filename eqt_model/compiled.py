"""jax.jit for the model's functions: XLA's work space in heaps, kept between calls.

XLA's CPU runtime allocates the work space (temporary buffers) of a compiled function at every call:
530 MB for one energy + forces evaluation of the paper-size model on 64 waters. glibc serves blocks
above its mmap threshold (at most 32 MiB) straight from the kernel and unmaps them at free, so every
call page-faulted its whole work space afresh, and the kernel took a quarter of the CPU time
(`perf`: 130 000 page faults per evaluation). Here XLA splits the work space into heaps of at most
HEAP_BYTES (or the largest single value of the function, if larger: XLA warns about every value
above the limit), and glibc serves blocks up to 32 MiB from its own heaps and keeps what is freed,
so the next call reuses the same memory: the same numbers, 1.2-1.5x faster per evaluation on a
2-core CPU (benchmarks/README.md). The price: a process keeps the memory of its largest call until it exits.
"""
import collections
import ctypes
import functools

import jax
import numpy as np

HEAP_BYTES = 8 * 2**20  # 4, 8 and 16 MiB measured: 4 and 8 alike, 16 page-faulted again
CACHE_SIZE = 16  # compilations kept per function (shapes, static arguments): training uses ~5

# glibc's mallopt parameters (malloc.h) and the values set: blocks below the largest mmap threshold
# come from glibc's heaps; a heap is neither trimmed nor unmapped while less than TOP_PAD is free.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MALLOC_SETTINGS = {_M_MMAP_THRESHOLD: 32 * 2**20, _M_TRIM_THRESHOLD: 2**31 - 1, _M_TOP_PAD: 64 * 2**20}


@functools.lru_cache(maxsize=None)
def keep_freed_memory():
    """Tell glibc (once per process) to keep freed blocks for reuse; True if it took the settings.
    A no-op returning False where the C library has no mallopt (macOS, Windows)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return all([mallopt(parameter, value) == 1 for parameter, value in _MALLOC_SETTINGS.items()])


def equations(jaxpr):
    """Every equation of a jaxpr, those of its sub-jaxprs (loops, conditionals, custom rules) included."""
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else [value]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    yield from equations(inner)


def largest_value_bytes(jaxpr):
    """Bytes of the largest array that a jaxpr (its sub-jaxprs included) computes."""
    return max([int(np.prod(var.aval.shape)) * var.aval.dtype.itemsize
                for eqn in equations(jaxpr) for var in eqn.outvars if hasattr(var.aval, "shape")], default=0)


def jit(fun=None, *, static_argnums=()):
    """jax.jit(fun, static_argnums=...) whose compilations split the work space into heaps
    (module docstring), after keep_freed_memory(). Positional arguments only; the last CACHE_SIZE
    compilations are kept. Called inside another transformation it is plain jax.jit (the outer
    compilation decides). Usable as ``functools.partial(compiled.jit, static_argnums=...)``."""
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums)
    keep_freed_memory()
    static = {static_argnums} if isinstance(static_argnums, int) else set(static_argnums)
    jitted = jax.jit(fun, static_argnums=tuple(static))
    executables = collections.OrderedDict()

    @functools.wraps(fun)
    def call(*args):
        dynamic = [a for i, a in enumerate(args) if i not in static]
        leaves, tree = jax.tree.flatten(dynamic)
        if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
            return jitted(*args)
        key = tree, tuple(args[i] for i in sorted(static)), tuple(jax.typeof(leaf) for leaf in leaves)
        if key in executables:
            executables.move_to_end(key)
        else:
            traced = jitted.trace(*args)
            heap = max(HEAP_BYTES, largest_value_bytes(traced.jaxpr.jaxpr))
            executables[key] = traced.lower().compile({"xla_multiheap_size_constraint_per_heap": heap})
            if len(executables) > CACHE_SIZE:
                executables.popitem(last=False)
        return executables[key](*dynamic)

    return call
