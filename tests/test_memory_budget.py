"""--memory budgets of the model commands: they size the batches, never change the numbers."""
import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)  # compare to 1e-10: float64

import jax.numpy as jnp  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from eqt_analysis.errors import InputError  # noqa: E402
from eqt_model import averaging, model, modelfile, rotations, training  # noqa: E402
from eqt_model import data as datamod  # noqa: E402
from eqt_model.calculator import Potential  # noqa: E402
from eqt_model.config import ModelConfig, preset  # noqa: E402

from .conftest import TRICLINIC, water_molecules, wrap  # noqa: E402

CONFIG = ModelConfig(species=(1, 8), d_model=16, n_message_layers=2, n_transformer_layers=1, n_heads=2,
                     d_feedforward=32, cutoff=3.5, cutoff_width=0.3, n_radial=4)
TINY = 1e-6  # MB: one evaluation per call
HUGE = 1e6  # MB: everything in one call


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """8 waters in a triclinic cell, a fully random seeded model and its model file."""
    pos, numbers = water_molecules(8, TRICLINIC, np.random.default_rng(3))
    params = model.init(jax.random.PRNGKey(0), CONFIG, zero_heads=False)
    path = tmp_path_factory.mktemp("model") / "m.pkl"
    modelfile.save(path, CONFIG, params)
    return wrap(pos, TRICLINIC), numbers, path


def test_calls_shrink_with_the_budget_and_never_reach_zero():
    config = preset("small", (1, 8))
    budgets = [2.0**k for k in range(-4, 16)]
    for n_atoms, n_slots, itemsize in [(24, 16, 8), (192, 40, 8), (192, 40, 4), (1536, 48, 8)]:
        counts = [averaging.per_call(m, config, n_atoms, n_slots, itemsize) for m in budgets]
        assert min(counts) == 1 and all(a <= b for a, b in zip(counts, counts[1:]))
        assert counts[-1] > 1
    # training steps keep about TRAIN_FACTOR times more per structure; float32 halves it
    assert averaging.per_call(4096, config, 192, 40, 4, averaging.TRAIN_FACTOR) < averaging.per_call(4096, config, 192, 40, 4)
    assert averaging.per_call(4096, config, 192, 40, 4) >= 2 * averaging.per_call(4096, config, 192, 40, 8) - 1
    # the documented calibration point: example model (small preset), 192 water atoms, K = 40, float64:
    # about 215 MB per rotation, so 4 rotations in the default 1024 MB
    assert averaging.per_call(averaging.DEFAULT_MEMORY_MB, config, 192, 40, 8) == 4


def test_rotations_per_call_follows_the_budget(system):
    pos, numbers, path = system
    pot = Potential(path)
    graph = pot.graph(pos, TRICLINIC, numbers, [True] * 3)[0]
    counts = [averaging.rotations_per_call(graph, CONFIG, m) for m in (TINY, 1, 4, 16, 64, 256, HUGE)]
    assert counts[0] == 1 and all(a <= b for a, b in zip(counts, counts[1:])) and counts[-1] > 100


def test_small_structures_evaluate_several_rotations_per_step_large_ones_one():
    assert averaging.rotations_per_step(3, 36, 1000) == 36  # one water: the whole grid 2i at once
    assert averaging.rotations_per_step(24, 36, 1000) == averaging.ATOMS_PER_STEP // 24
    assert averaging.rotations_per_step(24, 36, 3) == 3  # what the memory budget holds
    assert averaging.rotations_per_step(192, 36, 1000) == 1
    assert averaging.rotations_per_step(1536, 36, 1000) == 1
    assert averaging.rotations_per_step(3, 1, 1000) == 1


def test_over_rotations_do_not_depend_on_the_budget(system):
    pos, numbers, path = system
    pot = Potential(path)
    graph = pot.graph(pos, TRICLINIC, numbers, [True] * 3)[0]
    rots = rotations.grid("2").rotations  # 18 rotations: 18 steps of 1, 2 of 8 and the remaining 2, or one of 18
    assert averaging.rotations_per_call(graph, CONFIG, TINY) == 1
    assert averaging.rotations_per_step(len(numbers), len(rots), averaging.rotations_per_call(graph, CONFIG)) == 8
    e_one, f_one = averaging.over_rotations(pot.params, CONFIG, graph, rots, memory=TINY)
    e_default, f_default = averaging.over_rotations(pot.params, CONFIG, graph, rots)
    e_all, f_all = averaging.over_rotations(pot.params, CONFIG, graph, rots, chunk=18)
    e_some, f_some = averaging.over_rotations(pot.params, CONFIG, graph, rots, chunk=5)  # 3 steps of 5, then 3
    assert e_one.shape == (18,) and f_one.shape == (18, len(numbers), 3)
    for e, f in ((e_default, f_default), (e_all, f_all), (e_some, f_some)):
        np.testing.assert_allclose(e, e_one, rtol=0, atol=1e-10)
        np.testing.assert_allclose(f, f_one, rtol=0, atol=1e-10)


def test_averaged_energies_and_forces_do_not_depend_on_the_budget(system):
    pos, numbers, path = system
    small = Potential(path, average="2i", memory=TINY)
    large = Potential(path, average="2i", memory=HUGE)
    e_small, f_small = small.energy_and_forces(pos, TRICLINIC, numbers)
    e_large, f_large = large.energy_and_forces(pos, TRICLINIC, numbers)
    assert e_small == pytest.approx(e_large, abs=1e-10)
    np.testing.assert_allclose(f_small, f_large, rtol=0, atol=1e-10)


def _dataset(n=5):
    from ase import Atoms

    rng = np.random.default_rng(0)
    frames = []
    for _ in range(n):
        pos, numbers = water_molecules(2, np.eye(3) * 4.0, rng)
        frames.append(Atoms(numbers=numbers, positions=pos))
    return datamod.build(frames, rng.normal(size=n), [rng.normal(size=(len(a), 3)) for a in frames],
                         CONFIG.species, CONFIG.cutoff)


def test_evaluation_batches_do_not_change_the_numbers():
    ds = _dataset()
    params = model.init(jax.random.PRNGKey(1), CONFIG, zero_heads=False)
    e_one, f_one = training.evaluate(params, CONFIG, ds, memory=TINY)
    e_all, f_all = training.evaluate(params, CONFIG, ds, memory=HUGE)
    np.testing.assert_allclose(e_one, e_all, rtol=0, atol=1e-10)
    np.testing.assert_allclose(f_one, f_all, rtol=0, atol=1e-10)


def test_a_training_batch_over_the_budget_is_refused():
    ds = _dataset(4)
    params = model.init(jax.random.PRNGKey(1), CONFIG)
    params["output"] = {"scale": jnp.ones(()), "reference": jnp.zeros(2)}
    with pytest.raises(InputError, match="--batch-size"):
        training.fit(params, CONFIG, ds, ds, epochs=1, batch_size=2, memory=TINY)


def test_memory_option_of_the_model_commands():
    from eqt_cli import eval as eval_cli
    from eqt_cli import rotvar as rotvar_cli
    from eqt_cli import train as train_cli

    for cli, args in ((rotvar_cli, ["m.pkl", "x.xyz"]), (eval_cli, ["m.pkl", "x.xyz"]), (train_cli, ["x.xyz"])):
        result = CliRunner().invoke(cli.main, ["--help"])
        assert result.exit_code == 0 and "--memory MB" in result.output
        result = CliRunner().invoke(cli.main, args + ["--memory", "0"])
        assert result.exit_code == 2 and "--memory" in result.output
