"""model.pkl: plain data only, loaded with a restricted unpickler.

Contents: {"format": "eqt-model", "version": 1, "config": {...}, "params": nested dicts/lists
of NumPy arrays, "training": {...}}. Loading accepts only builtin containers and scalars and
NumPy arrays of numeric dtype: any other class named in the pickle (os.system, builtins.eval,
a subclass with a __reduce__ payload, object arrays, ...) is refused before it can run.
"""
import io
import pickle

import numpy as np

from eqt_analysis.errors import InputError

FORMAT, VERSION = "eqt-model", 1
_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"forbidden object {module}.{name}")


def _to_numpy(tree):
    """Nested dicts/lists of arrays (JAX or NumPy) -> the same of NumPy arrays."""
    if isinstance(tree, dict):
        return {str(k): _to_numpy(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_to_numpy(v) for v in tree]
    if isinstance(tree, (str, int, float, bool)) or tree is None:
        return tree
    return np.asarray(tree)


def _check(tree, path):
    if isinstance(tree, dict):
        for v in tree.values():
            _check(v, path)
    elif isinstance(tree, list):
        for v in tree:
            _check(v, path)
    elif isinstance(tree, np.ndarray) and tree.dtype.kind not in "biuf":
        raise InputError(f"model file holds a {tree.dtype} array; only numeric arrays are allowed", path)


def save(path, config, params, training=None):
    """Write model.pkl (plain data) to `path`."""
    payload = {"format": FORMAT, "version": VERSION, "config": config.to_dict(),
               "params": _to_numpy(params), "training": _to_numpy(training or {})}
    with open(path, "wb") as handle:
        pickle.dump(payload, handle, protocol=4)


def save_checkpoint(path, config, state, training=None):
    """Write a resumable training state (plain data, same safe format, tag 'eqt-checkpoint')."""
    payload = {"format": "eqt-checkpoint", "version": VERSION, "config": config.to_dict(),
               "state": _to_numpy(state), "training": _to_numpy(training or {})}
    with open(path, "wb") as handle:
        pickle.dump(payload, handle, protocol=4)


def load_checkpoint(path):
    """(ModelConfig, state, training metadata) from a checkpoint written by save_checkpoint."""
    from .config import ModelConfig

    payload = _read(path, "eqt-checkpoint")
    return ModelConfig.from_dict(payload["config"]), payload["state"], payload.get("training", {})


def load(path):
    """(ModelConfig, params as NumPy trees, training metadata) from a model.pkl file."""
    from .config import ModelConfig

    payload = _read(path, FORMAT)
    _check(payload["params"], str(path))
    config = ModelConfig.from_dict(payload["config"])
    return config, payload["params"], payload.get("training", {})


def _read(path, tag):
    path = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise InputError(f"cannot open model ({err.strerror})", path) from None
    try:
        payload = _RestrictedUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as err:
        raise InputError(f"refused to load model: {err}", path) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as err:
        raise InputError(f"not a readable eqt model file (truncated or foreign: {type(err).__name__})", path) from None
    if not isinstance(payload, dict) or payload.get("format") != tag:
        raise InputError(f"not an eqt file of type {tag!r} (format tag {payload.get('format') if isinstance(payload, dict) else None!r})", path)
    if payload.get("version") != VERSION:
        raise InputError(f"file version {payload.get('version')} is not supported (this eqt reads {VERSION})", path)
    return payload
