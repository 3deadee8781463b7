"""The model-file loader: hostile files are refused quickly with one-line InputErrors (also
through eqt-eval, exit code 2), real files still load, configurations are validated."""
import contextlib
import pickle
import signal
import time

import numpy as np
import pytest

from eqt_analysis.errors import InputError
from eqt_model import modelfile
from eqt_model.config import PRESETS, ModelConfig, preset

from .hostile_models import EXAMPLE, example_payload, hostile_model_files


@contextlib.contextmanager
def deadline(seconds):
    """Fail (instead of hanging the suite) when the block runs longer than `seconds`."""
    def expire(*_):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hostile")
    return directory, hostile_model_files(directory)


def test_example_model_loads_and_round_trips(tmp_path):
    config, params, training = modelfile.load(EXAMPLE)
    assert config.species == (1, 8) and config.cutoff == 4.0
    assert params["layers"][0]["geometry"][0]["w"].shape == (4 + config.n_radial, config.d_model)
    assert type(params["embed_central"]) is np.ndarray and isinstance(training["history"], list)
    modelfile.save(tmp_path / "again.pkl", config, params, training)
    again = modelfile.load(tmp_path / "again.pkl")
    assert again[0] == config and np.array_equal(again[1]["output"]["reference"], params["output"]["reference"])


def test_hostile_files_are_refused_quickly(hostile):
    directory, files = hostile
    modelfile.load(EXAMPLE)  # imports JAX once, outside the timings
    slowest = 0.0
    for name, path in files:
        with deadline(10):
            start = time.perf_counter()
            with pytest.raises(InputError) as err:
                modelfile.load(path)
            elapsed = time.perf_counter() - start
        message = str(err.value)
        assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 400, (name, message)
        assert elapsed < 2.0, (name, elapsed)
        slowest = max(slowest, elapsed)
    assert not (directory / "pwned").exists()
    assert len(files) >= 25 and slowest < 2.0


@pytest.mark.parametrize("name, expected", [
    ("shared children bomb", "reached twice"),
    ("self-referencing list", "reached twice"),
    ("200000-deep list", "nested more than 64 deep"),
    ("cutoff 1e6", "cutoff 1e+06 Å is outside 0.5..12 Å"),
    ("n_heads 0", "n_heads must be an integer in 1..64, got 0"),
    ("d_model True", "d_model must be an integer"),
    ("mis-shaped parameter", "params/layers/0/transformer/0/query/w: shape (32, 16), expected (32, 32)"),
    ("missing parameter", "params/layers/0/central/w: missing"),
    ("extra parameter", "params/layers/1/spare: not a parameter of this model"),
    ("NaN parameter", "params/layers/0/transformer/0/query/w: non-finite parameters"),
    ("object array in training", "non-numeric dtype"),
    ("huge declared array shape", "does not match its 16 bytes"),
    ("os.system", "forbidden object"),
])
def test_hostile_files_say_what_is_wrong(hostile, name, expected):
    path = dict(hostile[1])[name]
    with pytest.raises(InputError) as err:
        modelfile.load(path)
    assert expected in str(err.value)


def test_eval_refuses_hostile_files_with_exit_code_2(hostile, tmp_path):
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator
    from click.testing import CliRunner

    from eqt_cli.eval import main

    water = ase.Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    water.calc = SinglePointCalculator(water, energy=-14.2, forces=np.zeros((3, 3)))
    structures = tmp_path / "water.xyz"
    ase.io.write(structures, water, format="extxyz")
    for name, path in hostile[1]:
        result = CliRunner().invoke(main, [str(path), str(structures), "-o", str(tmp_path / "out.nc")])
        assert result.exit_code == 2, (name, result.output)
        assert "Error:" in result.output and path.name in result.output, (name, result.output)
        assert "Traceback" not in result.output and not (tmp_path / "out.nc").exists(), name
    assert not (hostile[0] / "pwned").exists()


def test_checkpoint_is_checked_like_a_model(tmp_path):
    config, params, training = modelfile.load(EXAMPLE)
    state = {"params": params, "best_params": params, "opt_state": [np.zeros(3)], "epoch": 3, "history": [],
             "best_forces_mae": 0.1, "norms": np.ones(2)}
    modelfile.save_checkpoint(tmp_path / "c.ckpt", config, state, {"seed": 0})
    loaded, state2, meta = modelfile.load_checkpoint(tmp_path / "c.ckpt")  # shared arrays are fine
    assert loaded == config and state2["epoch"] == 3 and meta["seed"] == 0
    bad = dict(params, embed_central=np.zeros((3, 32), np.float32))
    modelfile.save_checkpoint(tmp_path / "bad.ckpt", config, {**state, "best_params": bad})
    with pytest.raises(InputError, match="state/best_params/embed_central: shape"):
        modelfile.load_checkpoint(tmp_path / "bad.ckpt")
    with pytest.raises(InputError, match="not an eqt file of type 'eqt-checkpoint'"):
        modelfile.load_checkpoint(EXAMPLE)


def test_tuples_become_lists(tmp_path):
    payload = example_payload()
    payload["training"]["pair"] = (1, (2.0, np.arange(3.0)))
    (tmp_path / "t.pkl").write_bytes(pickle.dumps(payload, protocol=4))
    _, _, training = modelfile.load(tmp_path / "t.pkl")
    assert training["pair"][:1] == [1] and type(training["pair"][1][1]) is np.ndarray


def test_config_validation():
    for name in PRESETS:
        assert preset(name, [1, 6, 8]).species == (1, 6, 8)
    config = ModelConfig(d_model=np.int64(32), cutoff=5)
    assert type(config.d_model) is int and type(config.cutoff) is float
    for values, expected in [(dict(n_heads=0), "n_heads"), (dict(d_model="32"), "d_model"),
                             (dict(d_model=2.0), "d_model"),
                             (dict(d_feedforward=100_000), "d_feedforward"), (dict(n_radial=-1), "n_radial"),
                             (dict(species=()), "species"), (dict(species=(1, 119)), "species"),
                             (dict(species=(True, 8)), "species"), (dict(cutoff=0.1), "outside"),
                             (dict(cutoff=float("inf")), "finite"), (dict(cutoff="4"), "finite"),
                             (dict(cutoff_width=0.0), "cutoff_width"), (dict(activation="relu"), "activation"),
                             (dict(d_model=30, n_heads=4), "multiple")]:
        with pytest.raises(InputError, match=expected):
            ModelConfig(**values)
    with pytest.raises(InputError, match="unknown model hyper-parameters"):
        ModelConfig.from_dict({"d_model": 32, "n_experts": 4})
