"""Hostile model files, made from the committed small example model (model-small.pkl): each must be refused with an
InputError (never a hang, a crash or a traceback). `hostile_model_files(tmp_dir)` writes them
and returns [(name, path)]; the fuzz suite and tests/test_modelfile.py use it."""
import copy
import os
import pickle
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data" / "model-small.pkl"


def example_payload():
    """The example model's payload, as plain data (dict with format, version, config, params,
    training)."""
    from eqt_model import modelfile

    config, params, training = modelfile.load(EXAMPLE)
    return {"format": modelfile.FORMAT, "version": modelfile.VERSION, "config": config.to_dict(),
            "params": params, "training": training}


class _Reduce:
    """Pickles as func(*args), with an optional BUILD state: for hand-made pickle streams."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def _array_with_state(shape, data, dtype_state=None):
    """A pickled ndarray whose state declares `shape` and carries `data` (bytes or a list);
    dtype_state replaces the float64 dtype's own state."""
    reconstruct, args, _ = np.zeros(1).__reduce__()
    dtype = np.dtype("<f8")
    if dtype_state is not None:
        dtype = _Reduce(np.dtype, ("f8", False, True), dtype_state)
    return _Reduce(reconstruct, args, (1, shape, dtype, False, data))


def _bomb(levels=60):
    """A list whose two entries are the same list, 60 levels down: 2**60 leaves, a small pickle."""
    node = []
    for _ in range(levels):
        node = [node, node]
    return node


def _npz_bytes():
    """An .npz archive, as eqt-md writes its checkpoints: 'P' is a pickle opcode with a two-line error."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, step=np.array(3))
    return buffer.getvalue()


def _cases(pwned):
    """{name: bytes} of the hostile files; the os.system one would create the file `pwned`."""
    base = example_payload()
    good = pickle.dumps(base, protocol=4)

    def mutate(change):
        payload = copy.deepcopy(base)
        change(payload)
        return pickle.dumps(payload, protocol=4)

    def config(**values):
        return mutate(lambda p: p["config"].update(values))

    def params(change):
        return mutate(lambda p: change(p["params"]))

    def training(**values):
        return mutate(lambda p: p["training"].update(values))

    def self_reference(p):
        loop = []
        loop.append(loop)
        p["training"]["history"] = loop

    def deep(depth=200_000):
        # protocol 3 has no frames: a marker string is swapped for `depth` nested empty lists
        blob = pickle.dumps({**base, "training": {"deep": "__DEEP__"}}, protocol=3)
        marker = b"X\x08\x00\x00\x00__DEEP__"
        assert blob.count(marker) == 1
        return blob.replace(marker, b"]" * depth + b"a" * (depth - 1))

    def delete(*keys):
        def change(tree):
            for key in keys[:-1]:
                tree = tree[key]
            del tree[keys[-1]]
        return change

    def put(value, *keys):
        def change(tree):
            for key in keys[:-1]:
                tree = tree[key]
            tree[keys[-1]] = value
        return change

    return {
        "shared children bomb": params(put(_bomb(), "layers")),
        "self-referencing list": mutate(self_reference),
        "200000-deep list": deep(),
        "cutoff 1e6": config(cutoff=1e6),
        "cutoff nan": config(cutoff=float("nan")),
        "cutoff huge int": config(cutoff=10 ** 400),
        "cutoff_width above cutoff": config(cutoff_width=5.0),
        "n_heads 0": config(n_heads=0),
        "d_model not a multiple of n_heads": config(d_model=30),
        "d_model string": config(d_model="32"),
        "d_model True": config(d_model=True),
        "d_model 5000 digits": config(d_model=10 ** 5000),
        "negative layers": config(n_message_layers=-2),
        "16 layers claimed, 2 stored": config(n_message_layers=16),
        "unknown activation": config(activation="relu"),
        "repeated species": config(species=[1, 1]),
        "species 0": config(species=[0, 8]),
        "unknown config key": config(n_experts=4),
        "config a string": mutate(put("d_model=32", "config")),
        "missing parameter": params(delete("layers", 0, "central", "w")),
        "missing output entry": params(delete("output")),
        "mis-shaped parameter": params(put(np.zeros((32, 16), np.float32),
                                           "layers", 0, "transformer", 0, "query", "w")),
        "extra parameter": params(put(np.zeros(3, np.float32), "layers", 1, "spare")),
        "zip archive (an eqt-md checkpoint)": _npz_bytes(),
        "NaN parameter": params(put(np.full((32, 32), np.nan, np.float32), "layers", 0, "transformer", 0, "query", "w")),
        "extra layer": params(lambda p: p["layers"].append(copy.deepcopy(p["layers"][0]))),
        "integer parameter": params(put(np.array(1), "output", "scale")),
        "string where a dict should be": params(put("layer", "layers", 0)),
        "object array in training": training(note=np.array(["a", 1], dtype=object)),
        "object array in params": params(put(np.array([1.0, None], dtype=object), "embed_central")),
        "string array in training": training(note=np.array(["abc"])),
        "set in training": training(tags={"a", "b"}),
        "bytes in training": training(blob=b"\x00\x01"),
        "int dict key": training(**{"x": {1: 2}}),
        "a million objects": training(many=[0] * 1_000_001),
        "training a list": mutate(put([1, 2], "training")),
        "wrong format tag": mutate(put("pet-model", "format")),
        "checkpoint tag": mutate(put("eqt-checkpoint", "format")),
        "format tag an array": mutate(put(np.zeros(3), "format")),
        "wrong version": mutate(put(2, "version")),
        "version True": mutate(put(True, "version")),
        "not a dict": pickle.dumps([base["config"]], protocol=4),
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "random bytes": np.random.default_rng(0).bytes(4096),
        "text": b"format: eqt-model\nversion: 1\n",
        "os.system": pickle.dumps({**base, "params": _Reduce(os.system, (f"touch {pwned}",))}, protocol=4),
        "builtins.eval": pickle.dumps(_Reduce(eval, ("1 + 1",)), protocol=4),
        "huge declared array shape": params(put(_array_with_state((10 ** 9, 10 ** 9), b"\0" * 16), "embed_central")),
        "array shape overflowing int64": params(put(_array_with_state((2 ** 62, 4), b"\0" * 16), "embed_central")),
        "negative array shape": params(put(_array_with_state((-1,), b""), "embed_central")),
        # crashed NumPy (segmentation fault) before dtype states were rebuilt by eqt
        "dtype flags with list data": params(put(_array_with_state((10 ** 6,), [1.0, 2.0],
                                                                   (3, "<", None, None, None, -1, -1, 63)),
                                                 "embed_central")),
        "structured dtype state": params(put(_array_with_state((1,), b"\0" * 8, (3, "|", None, ("a",),
                                                                                {"a": (np.dtype("f8"), 0)}, 8, 1, 16)),
                                             "embed_central")),
        "ndarray constructor called": params(put(_Reduce(np.ndarray, ((10 ** 6, 10 ** 6),)), "embed_central")),
        "protocol-2 array": pickle.dumps({**base, "params": {"a": np.zeros(2)}}, protocol=2),
    }


def hostile_model_files(tmp_dir):
    """Write the hostile model files into tmp_dir; [(name, path)]. The 'os.system' file would
    create tmp_dir/pwned if it ran."""
    tmp_dir = Path(tmp_dir)
    out = []
    for k, (name, blob) in enumerate(_cases(tmp_dir / "pwned").items()):
        path = tmp_dir / f"hostile{k:02d}_{''.join(c if c.isalnum() else '_' for c in name)}.pkl"
        path.write_bytes(blob)
        out.append((name, path))
    return out
