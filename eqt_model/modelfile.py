"""model.pkl: plain data only, loaded with a restricted unpickler and checked before use.

Contents: {"format": "eqt-model", "version": 1, "config": {...}, "params": nested dicts/lists
of NumPy arrays, "training": {...}}. Loading accepts only builtin containers and scalars and
NumPy arrays of numeric dtype: any other class named in the pickle (os.system, builtins.eval,
a subclass with a __reduce__ payload, object arrays, ...) is refused before it can run. NumPy's
own unpickling code never sees the file's dtype or array state (a crafted dtype state can
crash it): stand-ins rebuild numeric dtypes from their type code and check each array's shape
against its bytes. Then one bounded walk checks the whole payload (_check_plain), the
configuration is validated (ModelConfig) and every parameter's shape compared with the one the
configuration gives it (_check_params). Every problem is an InputError naming the file.
"""
import io
import math
import pickle

import numpy as np

from eqt_analysis.errors import InputError

FORMAT, VERSION = "eqt-model", 1


class _DType:
    """Stand-in for a pickled numpy.dtype: only a numeric type code ('f4', 'i8', ...) and a
    byte order are taken from the file."""

    def __init__(self, code, align=False, copy=False):
        try:
            dtype = np.dtype(code) if type(code) is str and len(code) <= 4 else None
        except (TypeError, ValueError):
            dtype = None
        if dtype is None or dtype.kind not in "biuf":
            raise pickle.UnpicklingError(f"non-numeric dtype {_show(code)}")
        self.dtype = dtype

    def __setstate__(self, state):
        if (type(state) is not tuple or len(state) < 5 or type(state[1]) is not str or state[1] not in "<>|="
                or any(item is not None for item in state[2:5])):
            raise pickle.UnpicklingError("malformed dtype")
        if self.dtype.byteorder != "|" and state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])


class _Array(np.ndarray):
    """What the unpickler makes of a pickled ndarray until _check_plain turns it into a plain
    one: its state is checked (a _DType, bytes matching the shape) before NumPy reads it."""

    def __setstate__(self, state):
        if type(state) is not tuple or len(state) != 5:
            raise pickle.UnpicklingError("malformed array")
        version, shape, dtype, fortran, data = state
        if (type(shape) is not tuple or len(shape) > 32 or any(type(n) is not int or n < 0 for n in shape)
                or not isinstance(dtype, _DType) or type(fortran) is not bool or type(data) is not bytes):
            raise pickle.UnpicklingError("malformed array")
        if math.prod(shape) * dtype.dtype.itemsize != len(data):
            raise pickle.UnpicklingError(f"array of shape {shape} {dtype.dtype} does not match its {len(data)} bytes")
        super().__setstate__((version, shape, dtype.dtype, fortran, data))


class _NDArrayClass:
    """Stand-in for numpy.ndarray, which a pickle names only as _reconstruct's first argument
    (calling it, as a crafted pickle could, would allocate any shape it asks for)."""

    def __new__(cls, *args, **kwargs):
        raise pickle.UnpicklingError("numpy.ndarray called")


def _new_array(cls, shape, code):
    """Stand-in for numpy's _reconstruct: an empty array, whatever shape the file declares."""
    if cls is not _NDArrayClass:
        raise pickle.UnpicklingError("array of a foreign class")
    return _Array((0,), np.uint8)


def _scalar(dtype, data):
    """Stand-in for numpy's scalar: a numeric NumPy scalar from its bytes."""
    if not isinstance(dtype, _DType) or type(data) is not bytes or len(data) != dtype.dtype.itemsize:
        raise pickle.UnpicklingError("malformed scalar")
    return np.frombuffer(data, dtype.dtype)[0]


_ALLOWED = {("numpy", "ndarray"): _NDArrayClass, ("numpy", "dtype"): _DType}
for _core in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[_core, "_reconstruct"], _ALLOWED[_core, "scalar"] = _new_array, _scalar


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[module, name]
        raise pickle.UnpicklingError(f"forbidden object {_show(module)}.{_show(name)}")


def _show(value, width=40):
    """A str as it is when short and printable, anything else as a cut repr: messages stay one line."""
    if type(value) is str and len(value) <= width and value.isprintable():
        return value
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[:width - 3] + "..."


def _to_numpy(tree):
    """Nested dicts/lists of arrays (JAX or NumPy) -> the same of NumPy arrays."""
    if isinstance(tree, dict):
        return {str(k): _to_numpy(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_to_numpy(v) for v in tree]
    if isinstance(tree, (str, int, float, bool)) or tree is None:
        return tree
    return np.asarray(tree)


MAX_DEPTH = 64  # containers nested in one another (an eqt file nests about 8 deep)
MAX_NODES = 1_000_000  # containers, scalars and arrays in the whole file
_SCALARS = (str, int, float, bool, type(None))


def _check_plain(payload, path):
    """The payload, checked to be a tree of plain data: dicts with str keys, lists, tuples, str,
    int, float, bool, None, NumPy arrays and scalars of numeric dtype (kind b, i, u, f).

    Iterative and bounded (MAX_DEPTH, MAX_NODES); each container is visited once, and one
    reached a second time (a shared child or a cycle) is refused: eqt writes trees. Arrays
    may be shared (a checkpoint's params and best params can be the same arrays). Tuples
    become lists and the unpickler's arrays plain ndarrays, as save() writes them.
    """
    root = [payload]
    seen = {}  # id -> container, kept alive so that ids stay unique
    stack = [(payload, "", 0, root, 0)]  # (object, its path in the file, depth, parent, key)
    nodes = 1
    while stack:
        obj, where, depth, parent, key = stack.pop()
        kind = type(obj)
        if kind in _SCALARS:
            continue
        if kind is _Array:
            parent[key] = obj.view(np.ndarray)
            continue
        if kind is np.ndarray or isinstance(obj, np.generic):
            if obj.dtype.kind not in "biuf":
                raise InputError(f"{where or 'file'}: {obj.dtype} array; only numeric arrays are allowed", path)
            continue
        if kind not in (dict, list, tuple):
            raise InputError(f"{where or 'file'}: {_show(kind.__name__)} objects are not allowed", path)
        if id(obj) in seen:
            raise InputError(f"{where or 'file'}: a container reached twice (shared or cyclic); an eqt file is a tree",
                             path)
        seen[id(obj)] = obj
        if depth >= MAX_DEPTH:
            raise InputError(f"containers nested more than {MAX_DEPTH} deep", path)
        nodes += len(obj)
        if nodes > MAX_NODES:
            raise InputError(f"more than {MAX_NODES} objects", path)
        if kind is tuple:
            obj = parent[key] = list(obj)
        if kind is dict:
            for name, value in obj.items():
                if type(name) is not str:
                    raise InputError(f"{where or 'file'}: {_show(type(name).__name__)} dict key; only str keys "
                                     "are allowed", path)
                stack.append((value, _join(where, _show(name)), depth + 1, obj, name))
        else:
            stack.extend((value, _join(where, i), depth + 1, obj, i) for i, value in enumerate(obj))
    return root[0]


def _join(where, key):
    """A path in the file for messages: 'params/layers/0', cut at the front beyond 80 characters."""
    where = f"{where}/{key}" if where else str(key)
    return where if len(where) <= 80 else "..." + where[-77:]


def _check_params(params, config, where, path):
    """Refuse a params tree that differs from the one model.init makes for `config`: the same
    dict keys and list lengths, every leaf a finite floating ndarray of exactly the expected shape.
    `where` names the tree in messages (e.g. "params")."""
    import jax

    from . import model

    layers = params.get("layers") if isinstance(params, dict) else None
    if isinstance(layers, list) and len(layers) != config.n_message_layers:
        # checked before tracing: tracing init costs time in proportion to the layer counts
        raise InputError(f"{where}/layers: {len(layers)} layers, expected {config.n_message_layers}", path)
    for i, layer in enumerate(layers if isinstance(layers, list) else []):
        blocks = layer.get("transformer") if isinstance(layer, dict) else None
        if isinstance(blocks, list) and len(blocks) != config.n_transformer_layers:
            raise InputError(f"{where}/layers/{i}/transformer: {len(blocks)} blocks, expected "
                             f"{config.n_transformer_layers}", path)
    expected = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), config))
    stack = [(expected, params, where)]
    while stack:
        want, have, at = stack.pop()
        if isinstance(want, dict):
            if not isinstance(have, dict):
                raise InputError(f"{at}: {type(have).__name__}, expected a dict", path)
            missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
            if missing:
                raise InputError(f"{at}/{missing[0]}: missing", path)
            if extra:
                raise InputError(f"{at}/{_show(extra[0])}: not a parameter of this model", path)
            stack.extend((want[k], have[k], f"{at}/{k}") for k in sorted(want, reverse=True))
        elif isinstance(want, list):
            if not isinstance(have, list) or len(have) != len(want):
                got = f"{len(have)} entries" if isinstance(have, list) else type(have).__name__
                raise InputError(f"{at}: {got}, expected a list of {len(want)}", path)
            stack.extend((w, h, f"{at}/{i}") for i, (w, h) in reversed(list(enumerate(zip(want, have)))))
        elif not isinstance(have, np.ndarray) or have.dtype.kind != "f":
            got = f"{have.dtype} array" if isinstance(have, np.ndarray) else type(have).__name__
            raise InputError(f"{at}: {got}, expected a floating-point array", path)
        elif have.shape != want.shape:
            raise InputError(f"{at}: shape {have.shape}, expected {want.shape}", path)
        elif not np.isfinite(have).all():
            raise InputError(f"{at}: non-finite parameters (NaN or inf): a damaged or diverged model", path)


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
    """(ModelConfig, state, training metadata) from a checkpoint written by save_checkpoint;
    state["params"] and state["best_params"] are checked against the configuration."""
    payload = _read(path, "eqt-checkpoint")
    config = _config(payload, path)
    state = payload.get("state")
    if not isinstance(state, dict):
        raise InputError("checkpoint without a training state", path)
    for name in ("params", "best_params"):
        _check_params(state.get(name), config, f"state/{name}", str(path))
    return config, state, _training(payload, path)


def load(path):
    """(ModelConfig, params as NumPy trees, training metadata) from a model.pkl file. Every
    parameter is checked against the shape the configuration gives it."""
    payload = _read(path, FORMAT)
    config = _config(payload, path)
    _check_params(payload.get("params"), config, "params", str(path))
    return config, payload["params"], _training(payload, path)


def _config(payload, path):
    from .config import ModelConfig

    try:
        return ModelConfig.from_dict(payload.get("config"))
    except InputError as err:
        raise InputError(f"model configuration: {err}", path) from None


def _training(payload, path):
    training = payload.get("training", {})
    if not isinstance(training, dict):
        raise InputError(f"training metadata is a {type(training).__name__}, expected a dict", path)
    return training


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
        raise InputError(f"refused to load model: {' '.join(str(err).split())} (not an eqt model file, or a "
                         "damaged one)", path) from None
    except Exception as err:  # noqa: BLE001 - the restricted unpickler runs no foreign code
        raise InputError(f"not a readable eqt model file (truncated or foreign: {type(err).__name__})", path) from None
    payload = _check_plain(payload, path)
    found = payload.get("format") if isinstance(payload, dict) else None
    if type(found) is not str or found != tag:
        raise InputError(f"not an eqt file of type {tag!r} (format tag {_show(found)})", path)
    version = payload.get("version")
    if type(version) is not int or version != VERSION:
        raise InputError(f"file version {_show(version)} is not supported (this eqt reads {VERSION})", path)
    return payload


def sha256_hex(path):
    """SHA-256 hex digest of a file's bytes (what a model records of its training data)."""
    import hashlib

    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def describe(path):
    """JSON-ready summary of a model file: its SHA-256, architecture, parameter count and training record
    (epochs, CPU time, data file and split sizes, held-out test errors in meV and meV/Å)."""
    config, params, training = load(path)

    def count(tree):
        if isinstance(tree, dict):
            return sum(count(v) for v in tree.values())
        if isinstance(tree, list):
            return sum(count(v) for v in tree)
        return int(np.size(tree))

    digest = sha256_hex(path)
    split = training.get("split") or {}
    record = {"epochs": training.get("cumulative_epochs", training.get("epochs")),
              "stages": len(training.get("stages") or []) or None, "cpu_s": training.get("cumulative_cpu_s"),
              "data": training.get("data"), "data_sha256": training.get("data_sha256"),
              "split": {k: len(v) for k, v in split.items()}, "seed": training.get("seed")}
    errors = training.get("test_errors") or {}
    record["test_errors_meV"] = {k: float(v) * 1e3 for k, v in errors.items()}
    return {"model": str(path), "sha256": digest, "config": config.to_dict(), "parameters": count(params),
            "training": {k: v for k, v in record.items() if v not in (None, {})}}


def describe_as_text(info):
    """describe's summary as aligned text."""
    c, t = info["config"], info["training"]
    lines = [f"model         {info['model']}", f"sha256        {info['sha256']}",
             f"species       {', '.join(map(str, c['species']))} (atomic numbers); cutoff {c['cutoff']:g} Å",
             f"parameters    {info['parameters']}",
             "config        " + ", ".join(f"{k} {v}" for k, v in c.items() if k not in ("species", "cutoff"))]
    if "epochs" in t:
        cpu = f", {t['cpu_s']:.0f} CPU s" if t.get("cpu_s") else ""
        lines.append(f"training      {t['epochs']} epochs{cpu} in {t.get('stages', 1)} stage(s), seed {t.get('seed')}")
    if "data" in t:
        sizes = ", ".join(f"{v} {k}" for k, v in t.get("split", {}).items())
        lines.append(f"data          {t['data']} ({sizes})")
    if t.get("test_errors_meV"):
        lines.append("test errors   " + ", ".join(f"{k} {v:.4g}" for k, v in t["test_errors_meV"].items())
                     + " (meV; meV/Å for forces)")
    return "\n".join(lines)
