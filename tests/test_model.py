"""eqt_model: invariances, forces = -grad E, smooth cutoff, safe model files, augmentation, ASE."""
import os
import pickle
import signal

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)  # these tests measure the model, not float32 noise

import jax.numpy as jnp  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from eqt_analysis.errors import InputError  # noqa: E402
from eqt_model import data as datamod  # noqa: E402
from eqt_model import averaging, model, modelfile, rotations, training  # noqa: E402
from eqt_model import neighbors as nbmod  # noqa: E402
from eqt_model import calculator  # noqa: E402
from eqt_model.calculator import EQTCalculator, Potential  # noqa: E402
from eqt_model.config import ModelConfig  # noqa: E402

from .conftest import TRICLINIC, water_molecules, wrap  # noqa: E402

CONFIG = ModelConfig(species=(1, 8), d_model=16, n_message_layers=2, n_transformer_layers=1, n_heads=2,
                     d_feedforward=32, cutoff=3.5, cutoff_width=0.3, n_radial=4)


def _graph(positions, numbers, cell, config=CONFIG, capacity=48):
    nb = nbmod.build(positions, cell, [cell is not None] * 3, config.cutoff, capacity)
    species = np.searchsorted(config.species, numbers)
    return model.Graph(jnp.asarray(positions), jnp.asarray(cell if cell is not None else np.zeros((3, 3))),
                       jnp.asarray(species), *(jnp.asarray(a) for a in nb))


@pytest.fixture(scope="module")
def system():
    rng = np.random.default_rng(3)
    cell = TRICLINIC
    pos, numbers = water_molecules(8, cell, rng)
    params = model.init(jax.random.PRNGKey(0), CONFIG, zero_heads=False)
    return wrap(pos, cell), numbers, cell, params


def _ef(params, graph):
    return jax.jit(model.energy_and_forces, static_argnums=1)(params, CONFIG, graph)


def test_translation_and_permutation_invariance_and_rotation_variance(system):
    pos, numbers, cell, params = system
    e, f = _ef(params, _graph(pos, numbers, cell))
    e_t, f_t = _ef(params, _graph(wrap(pos + [1.3, -2.2, 0.7], cell), numbers, cell))
    assert abs(float(e_t - e)) < 1e-10 * abs(float(e))
    np.testing.assert_allclose(f_t, f, atol=1e-10)
    perm = np.random.default_rng(1).permutation(len(numbers))
    e_p, f_p = _ef(params, _graph(pos[perm], numbers[perm], cell))
    assert abs(float(e_p - e)) < 1e-10 * abs(float(e))
    np.testing.assert_allclose(f_p, np.asarray(f)[perm], atol=1e-10)
    rot = np.asarray(rotations.random_rotations(jax.random.PRNGKey(5), 1))[0]
    e_r, f_r = _ef(params, _graph(pos @ rot.T, numbers, cell @ rot.T))
    assert abs(float(e_r - e)) > 1e-6  # not invariant by construction: measurable variance


def test_forces_are_minus_the_energy_gradient(system):
    pos, numbers, cell, params = system
    e, f = _ef(params, _graph(pos, numbers, cell))
    h = 1e-5
    for atom, axis in [(0, 0), (4, 1), (17, 2)]:
        plus, minus = pos.copy(), pos.copy()
        plus[atom, axis] += h
        minus[atom, axis] -= h
        fd = -(float(_ef(params, _graph(plus, numbers, cell))[0]) - float(_ef(params, _graph(minus, numbers, cell))[0])) / (2 * h)
        assert fd == pytest.approx(float(f[atom, axis]), rel=1e-6, abs=1e-8)


def test_custom_edge_gathers_give_the_plain_indexing_derivatives(system, monkeypatch):
    """Forces and the force-loss parameter gradients (second derivatives, as in training) with
    the reverse-edge custom derivatives equal those of plain indexing (scatter-add transposes)."""
    pos, numbers, cell, params = system
    graph = _graph(pos, numbers, cell)
    target = jnp.asarray(np.random.default_rng(2).normal(size=pos.shape))

    def force_loss(p):
        return jnp.sum((model.energy_and_forces(p, CONFIG, graph)[1] - target) ** 2)

    custom = jax.grad(force_loss)(params), model.energy_and_forces(params, CONFIG, graph)[1]
    monkeypatch.setattr(model, "gather_neighbors", lambda x, nb, rev, mask: tuple(x[n] for n in nb))
    monkeypatch.setattr(model, "reverse_edges", lambda e, rev, mask: tuple(
        jnp.where(m[..., None], model._flat(e)[r], 0) for r, m in zip(rev, mask)))
    plain = jax.grad(force_loss)(params), model.energy_and_forces(params, CONFIG, graph)[1]
    np.testing.assert_allclose(custom[1], plain[1], rtol=1e-10, atol=1e-12)
    for a, b in zip(jax.tree_util.tree_leaves(custom[0]), jax.tree_util.tree_leaves(plain[0])):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_energy_is_smooth_where_atoms_cross_the_cutoff():
    params = model.init(jax.random.PRNGKey(2), CONFIG, zero_heads=False)
    energies = []
    for r in (CONFIG.cutoff - 1e-5, CONFIG.cutoff + 1e-5):
        pos = np.array([[0.0, 0.0, 0.0], [r, 0.1, 0.0]])
        energies.append(float(_ef(params, _graph(pos, np.array([8, 1]), None, capacity=8))[0]))
    assert abs(energies[0] - energies[1]) < 1e-7


def test_neighbour_capacity_overflow_is_refused(system):
    pos, numbers, cell, _ = system
    with pytest.raises(InputError, match="capacity"):
        nbmod.build(pos, cell, [True] * 3, CONFIG.cutoff, 2)


def test_model_file_round_trip(tmp_path, system):
    pos, numbers, cell, params = system
    modelfile.save(tmp_path / "m.pkl", CONFIG, params, {"note": "test"})
    config, loaded, meta = modelfile.load(tmp_path / "m.pkl")
    assert config == CONFIG and meta["note"] == "test"
    g = _graph(pos, numbers, cell)
    assert float(_ef(jax.tree_util.tree_map(jnp.asarray, loaded), g)[0]) == float(_ef(params, g)[0])


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_and_foreign_files_are_refused(tmp_path, system):
    _, _, _, params = system
    marker = tmp_path / "pwned"
    evil = {"format": "eqt-model", "version": 1, "config": CONFIG.to_dict(), "params": _Payload(marker)}
    cases = {
        "reduce payload": pickle.dumps(evil),
        "eval": pickle.dumps({"format": "eqt-model", "x": _Eval()}),
        "object array": pickle.dumps({"format": "eqt-model", "version": 1, "config": CONFIG.to_dict(),
                                      "params": {"a": np.array([_Payload(marker)], dtype=object)}}),
        "foreign": pickle.dumps({"weights": [1, 2, 3]}),
        "not a pickle": b"hello world",
    }
    good = tmp_path / "good.pkl"
    modelfile.save(good, CONFIG, params)
    cases["truncated"] = good.read_bytes()[:200]
    for name, blob in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.pkl"
        path.write_bytes(blob)
        with pytest.raises(InputError):
            modelfile.load(path)
        assert not marker.exists(), name


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def _tiny_dataset(n=6, seed=0):
    """Two-water clusters in open space labelled by ASE's TIP3P (exactly rotation invariant)."""
    from ase import Atoms
    from ase.calculators.tip3p import TIP3P

    rng = np.random.default_rng(seed)
    frames, energies, forces = [], [], []
    for _ in range(n):
        pos, numbers = water_molecules(2, np.eye(3) * 4.0, rng)
        atoms = Atoms(numbers=numbers, positions=pos)
        atoms.calc = TIP3P(rc=9.0)
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        frames.append(atoms)
    return frames, np.array(energies), forces


def test_refitted_reference_energies_solve_the_least_squares_normal_equations(system):
    """After refit_reference the energy residuals are orthogonal to every species count (the
    normal equations of the least-squares offset per species); forces are unchanged."""
    _, _, _, params = system
    frames, energies, forces = _tiny_dataset(6, seed=2)
    frames = [atoms[:n] for atoms, n in zip(frames, (6, 5, 4, 6, 5, 4))]  # O2H4, O2H3, O2H2
    forces = [f[:len(a)] for f, a in zip(forces, frames)]
    labels = energies + np.random.default_rng(0).normal(0.0, 3.0, len(energies))
    ds = datamod.build(frames, labels, forces, CONFIG.species, CONFIG.cutoff)
    refit = training.refit_reference(params, CONFIG, ds)
    e_old, f_old = training.evaluate(params, CONFIG, ds)
    e_new, f_new = training.evaluate(refit, CONFIG, ds)
    counts = training.composition(ds, 2)
    np.testing.assert_allclose(counts.T @ (labels - e_new), 0.0, atol=1e-8)
    assert np.abs(counts.T @ (labels - e_old)).max() > 1.0
    np.testing.assert_allclose(f_new, f_old, atol=1e-12)


def test_augmentation_makes_the_model_much_more_invariant():
    frames, energies, forces = _tiny_dataset()
    config = ModelConfig(species=(1, 8), d_model=16, n_message_layers=1, n_transformer_layers=1, n_heads=2,
                         d_feedforward=32, cutoff=5.0, cutoff_width=0.5)
    ds = datamod.build(frames, energies, forces, config.species, config.cutoff)
    reference, scale = training.fit_output(ds, 2)
    spreads = {}
    for augment in (False, True):
        params = model.init(jax.random.PRNGKey(0), config)
        params["output"] = {"scale": jnp.asarray(scale), "reference": jnp.asarray(reference)}
        best, _, _ = training.fit(params, config, ds, ds, epochs=60, batch_size=3, learning_rate=1e-2,
                                  energy_weight=0.1, augment=augment, seed=0)
        spreads[augment] = training.rotational_spread(best, config, ds)[1]
    assert spreads[True] < 0.5 * spreads[False], spreads


def test_ase_calculator_matches_the_jax_function(tmp_path, system):
    pos, numbers, cell, params = system
    from ase import Atoms
    from ase.md.verlet import VelocityVerlet
    from ase.units import fs

    modelfile.save(tmp_path / "m.pkl", CONFIG, params)
    atoms = Atoms(numbers=numbers, positions=pos, cell=cell, pbc=True)
    atoms.calc = EQTCalculator(tmp_path / "m.pkl")
    e, f = _ef(params, _graph(pos, numbers, cell))
    assert atoms.get_potential_energy() == pytest.approx(float(e), rel=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), f, atol=1e-10)
    VelocityVerlet(atoms, 0.1 * fs).run(3)  # the calculator works inside ASE's MD
    assert np.all(np.isfinite(atoms.get_forces()))
    with pytest.raises(InputError, match="unknown to the model"):
        Potential(tmp_path / "m.pkl").energy_and_forces(np.zeros((1, 3)), None, [6], [False] * 3)


def test_potential_in_blocks_of_atoms_matches_one_padded_block(tmp_path, system):
    """Potential.graph sorts the atoms by neighbour count into blocks with their own slots (the input
    order comes back through `order`); energies and forces equal one block padded to the most crowded
    atom, and the blocks' slots only grow (a denser structure, then the first one again)."""
    from eqt_analysis import io

    params = system[3]
    modelfile.save(tmp_path / "m.pkl", CONFIG, params)
    frame = io.open_trajectory(os.path.join(os.path.dirname(__file__), "..", "example_data", "water64_tip3p.nc"))
    frame = frame.isel(frame=0).load()
    pos, cell, numbers = (frame[k].values.astype(float) for k in ("positions", "cell", "atomic_number"))
    pot = Potential(tmp_path / "m.pkl")
    seen = []
    for scale in (1.0, 0.9, 1.0):
        x, box = wrap(pos, cell) * scale, cell * scale
        graph, order = pot.graph(x, box, numbers, [True] * 3)
        slots = [m.shape[1] for m in graph.mask]
        assert len(slots) == len(datamod.BLOCKS) and slots == sorted(slots) and slots[0] < slots[-1]
        assert sorted(order) == list(range(len(numbers)))
        seen.append(slots)
        e, f = _ef(params, _graph(x, numbers, box, capacity=64))
        e_b, f_b = pot.energy_and_forces(x, box, numbers)
        assert e_b == pytest.approx(float(e), rel=1e-12)
        np.testing.assert_allclose(f_b, f, rtol=0, atol=1e-10)
    assert all(a < b for a, b in zip(seen[0], seen[1])) and seen[2] == seen[1]
    small = pot.graph(system[0], system[2], system[1], [True] * 3)[0]  # 24 atoms: one block
    assert len(small.mask) == 1 and small.mask[0].shape[0] == 24


def test_block_fractions_for_structure_sizes():
    """One block for small structures, BLOCKS up to 3 x BLOCK_ATOMS atoms, then equal blocks of at most
    BLOCK_ATOMS atoms (block_starts sizes them), capped at MAX_BLOCKS."""
    assert datamod.fractions_for(datamod.BLOCK_FROM_ATOMS - 1) == (1.0,)
    assert datamod.fractions_for(3 * datamod.BLOCK_ATOMS) == datamod.BLOCKS
    for n in (3 * datamod.BLOCK_ATOMS + 1, 1536, 2000):
        sizes = np.diff(datamod.block_starts(n, datamod.fractions_for(n)))
        assert len(sizes) > len(datamod.BLOCKS) and sizes.max() <= datamod.BLOCK_ATOMS
        assert sizes.sum() == n and sizes.max() - sizes.min() <= 1
    assert len(datamod.fractions_for(100 * datamod.BLOCK_ATOMS)) == datamod.MAX_BLOCKS


def test_potential_in_many_equal_blocks_matches_one_padded_block(tmp_path, system):
    """A 768-atom box (four copies of the 64-water frame) goes in four equal blocks of 192 atoms sorted by
    neighbour count; energy and forces equal one block padded to the most crowded atom."""
    from ase import Atoms

    from eqt_analysis import io

    params = system[3]
    modelfile.save(tmp_path / "m.pkl", CONFIG, params)
    frame = io.open_trajectory(os.path.join(os.path.dirname(__file__), "..", "example_data", "water64_tip3p.nc"))
    frame = frame.isel(frame=0).load()
    pos, cell, numbers = (frame[k].values.astype(float) for k in ("positions", "cell", "atomic_number"))
    box = Atoms(numbers=numbers, positions=wrap(pos, cell), cell=cell, pbc=True).repeat((2, 2, 1))
    pos, numbers, cell = box.positions, box.numbers, box.cell.array
    pot = Potential(tmp_path / "m.pkl")
    graph, order = pot.graph(pos, cell, numbers, [True] * 3)
    assert [m.shape[0] for m in graph.mask] == [192] * 4 and sorted(order) == list(range(len(numbers)))
    e, f = _ef(params, _graph(pos, numbers, cell, capacity=64))
    e_b, f_b = pot.energy_and_forces(pos, cell, numbers)
    assert e_b == pytest.approx(float(e), rel=1e-12)
    np.testing.assert_allclose(f_b, f, rtol=0, atol=1e-10)


def test_compiled_model_gives_the_jit_numbers_and_reuses_its_work_space():
    """compiled.jit gives jax.jit's energy and forces; where glibc takes the settings, a call no longer
    page-faults its work space afresh (jax.jit's calls each fault all of it: eqt_model.compiled)."""
    import resource

    from eqt_analysis import io
    from eqt_model import compiled
    from eqt_model.config import preset

    frame = io.open_trajectory(os.path.join(os.path.dirname(__file__), "..", "example_data", "water64_tip3p.nc"))
    frame = frame.isel(frame=0).load()
    pos, cell, numbers = (frame[k].values.astype(float) for k in ("positions", "cell", "atomic_number"))
    config = preset("small", (1, 8))
    params = model.init(jax.random.PRNGKey(2), config, zero_heads=False)
    graph = _graph(wrap(pos, cell), numbers, cell, config=config, capacity=44)
    functions = {"jit": jax.jit(model.energy_and_forces, static_argnums=1),
                 "compiled": compiled.jit(model.energy_and_forces, static_argnums=1)}
    results, faults = {}, {}
    for name, function in functions.items():
        results[name] = jax.block_until_ready(function(params, config, graph))
        per_call = []
        for _ in range(5):  # the median call: one in a few may still fault (a worker thread's new glibc arena)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            jax.block_until_ready(function(params, config, graph))
            per_call.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        faults[name] = float(np.median(per_call))
    np.testing.assert_allclose(results["compiled"][0], results["jit"][0], rtol=1e-12)
    np.testing.assert_allclose(results["compiled"][1], results["jit"][1], rtol=0, atol=1e-12)
    if not compiled.keep_freed_memory():
        pytest.skip("this C library has no mallopt")
    work = functions["jit"].lower(params, config, graph).compile().memory_analysis().temp_size_in_bytes
    assert work > 64 * 2**20  # above glibc's largest mmap threshold: the case that page-faulted
    pages = work / resource.getpagesize()
    assert faults["compiled"] < 0.1 * pages, (faults, pages)


def test_eval_command_and_bad_input(tmp_path, system):
    import json

    import ase.io
    import xarray as xr

    from eqt_analysis.results import schema_problems
    from eqt_cli import eval as eval_cli

    _, _, _, params = system
    frames, energies, forces = _tiny_dataset(3)
    for atoms in frames:
        atoms.calc.atoms = atoms
    ase.io.write(tmp_path / "d.xyz", frames)
    modelfile.save(tmp_path / "m.pkl", CONFIG, params)
    out = tmp_path / "e.nc"
    result = CliRunner().invoke(eval_cli.main, [str(tmp_path / "m.pkl"), str(tmp_path / "d.xyz"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "forces, O" in result.stdout and out.exists()
    ds = xr.open_dataset(out)
    assert schema_problems(ds) == [] and ds.attrs["result_type"] == "eval" and ds.attrs["mode"] == "plain"
    assert list(ds["species"].values) == ["total", "H", "O"] and ds["forces_mae"].attrs["units"] == "meV/angstrom"
    np.testing.assert_allclose(ds["energy"].values, energies)
    np.testing.assert_allclose(ds["energy_error"].values, (ds["energy_predicted"].values - energies) * 1e3)
    assert float(ds["energy_mae"]) == pytest.approx(np.mean(np.abs(ds["energy_error"].values)))
    plain = Potential(tmp_path / "m.pkl")
    f0 = plain.energy_and_forces(frames[0].positions, None, frames[0].numbers, [False] * 3)[1]
    assert float(ds["forces_error"][0]) == pytest.approx(np.mean(np.abs(f0 - forces[0])) * 1e3)
    for extra in (["--average", "2"], ["--random-rotation"]):
        result = CliRunner().invoke(eval_cli.main, [str(tmp_path / "m.pkl"), str(tmp_path / "d.xyz"), "-o", str(out),
                                                    "--json", "-q"] + extra)
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)
        assert [r["quantity"] for r in rows][:3] == ["energy per structure", "energy per atom", "forces, all atoms"]
        assert xr.open_dataset(out).attrs["mode"] in ("averaged on grid 2", "randomly rotated")
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x04garbage")
    for args in ([tmp_path / "bad.pkl", tmp_path / "d.xyz"], [tmp_path / "m.pkl", tmp_path / "nope.xyz"],
                 [tmp_path / "m.pkl", tmp_path / "d.xyz", "--average", "2", "--random-rotation"],
                 [tmp_path / "m.pkl", tmp_path / "d.xyz", "--test-split"]):
        result = CliRunner().invoke(eval_cli.main, [str(a) for a in args] + ["-o", str(tmp_path / "x.nc")])
        assert result.exit_code == 2 and not (tmp_path / "x.nc").exists()


def test_train_command_writes_model_and_resumes(tmp_path):
    import ase.io

    from eqt_cli import train as train_cli

    frames, energies, forces = _tiny_dataset(8, seed=4)
    for atoms in frames:
        atoms.calc.atoms = atoms
    ase.io.write(tmp_path / "d.xyz", frames)
    out = tmp_path / "m.pkl"
    args = [str(tmp_path / "d.xyz"), "-o", str(out), "--n-test", "2", "--val-fraction", "0.2", "--batch-size", "2",
            "--cutoff", "3.0", "-q"]
    result = CliRunner().invoke(train_cli.main, args + ["--epochs", "2"])
    assert result.exit_code == 0, result.output
    config, params, meta = modelfile.load(out)
    assert meta["epochs"] == 2 and len(meta["history"]) == 2 and "test_errors" in meta
    assert sorted(meta["split"]["train"] + meta["split"]["validation"] + meta["split"]["test"]) == list(range(8))
    result = CliRunner().invoke(train_cli.main, args + ["--epochs", "3", "--resume", str(out) + ".ckpt"])
    assert result.exit_code == 0, result.output
    _, _, meta = modelfile.load(out)
    assert [r["epoch"] for r in meta["history"]] == [1, 2, 3]
    # a resume continues what the checkpoint started: another split would train on its test structures
    before = (out.read_bytes(), (tmp_path / "m.pkl.ckpt").read_bytes())
    ase.io.write(tmp_path / "other.xyz", frames[::-1])
    for change, says in ((["--n-test", "3"], "another split"), (["--learning-rate", "2e-3"], "learning_rate"),
                         (["--preset", "medium"], "--preset small --cutoff 3"), (["--seed", "1"], "another split"),
                         (["--no-augment"], "--no-augment"), (["--batch-size", "1"], "--batch-size")):
        result = CliRunner().invoke(train_cli.main, args + change + ["--epochs", "4", "--resume", str(out) + ".ckpt"])
        assert result.exit_code == 2 and says in result.stderr, (change, result.output)
    result = CliRunner().invoke(train_cli.main, [str(tmp_path / "other.xyz")] + args[1:]
                                + ["--epochs", "4", "--resume", str(out) + ".ckpt"])
    assert result.exit_code == 2 and "another structure file" in result.stderr
    assert (out.read_bytes(), (tmp_path / "m.pkl.ckpt").read_bytes()) == before
    result = CliRunner().invoke(train_cli.main, [str(tmp_path / "d.xyz"), "--energy-key", "nope", "-o", str(tmp_path / "x.pkl")])
    assert result.exit_code == 2 and "no energy label" in result.stderr and not (tmp_path / "x.pkl").exists()
    assert "train" not in result.stderr.split("Error")[0]  # no empty progress bar above the error line


def test_interrupted_training_says_what_it_kept(tmp_path, monkeypatch):
    """SIGTERM during epoch 2: the model and checkpoint of epoch 1 stay, the message says so (it said 'no output
    written'), and --resume continues from them."""
    import ase.io

    from eqt_cli import outputs
    from eqt_cli import train as train_cli

    frames, _, _ = _tiny_dataset(6, seed=5)
    for atoms in frames:
        atoms.calc.atoms = atoms
    ase.io.write(tmp_path / "d.xyz", frames)
    out = tmp_path / "m.pkl"
    args = [str(tmp_path / "d.xyz"), "-o", str(out), "--n-test", "1", "--val-fraction", "0.2", "--cutoff", "3.0", "-q"]
    report = train_cli._Progress.__call__

    def stop_in_epoch_2(self, news):
        if isinstance(news, dict) and news["epoch"] == 2:
            raise outputs.Interrupted(signal.SIGTERM)
        report(self, news)

    monkeypatch.setattr(train_cli._Progress, "__call__", stop_in_epoch_2)
    result = CliRunner().invoke(train_cli.main, args + ["--epochs", "3"])
    assert result.exit_code == 128 + signal.SIGTERM
    assert f"{out} holds the best model so far and {out}.ckpt the state after epoch 1" in result.stderr
    assert modelfile.load(out)[2]["epochs"] == 1
    monkeypatch.setattr(train_cli._Progress, "__call__", report)
    result = CliRunner().invoke(train_cli.main, args + ["--epochs", "3", "--resume", str(out) + ".ckpt"])
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in modelfile.load(out)[2]["history"]] == [1, 2, 3]


def test_averaged_forces_are_minus_the_gradient_of_the_averaged_energy(tmp_path, system):
    pos, numbers, cell, params = system
    modelfile.save(tmp_path / "m.pkl", CONFIG, params)
    avg = Potential(tmp_path / "m.pkl", average="2")
    plain = Potential(tmp_path / "m.pkl")
    e, f = avg.energy_and_forces(pos, cell, numbers)
    h = 1e-5
    for atom, axis in [(1, 0), (9, 2)]:
        plus, minus = pos.copy(), pos.copy()
        plus[atom, axis] += h
        minus[atom, axis] -= h
        fd = -(avg.energy_and_forces(plus, cell, numbers)[0] - avg.energy_and_forces(minus, cell, numbers)[0]) / (2 * h)
        assert fd == pytest.approx(f[atom, axis], rel=1e-6, abs=1e-8)
    # averaging over the inversion-doubled 3i grid makes the model much closer to invariant
    r = np.asarray(rotations.random_rotations(jax.random.PRNGKey(9), 3))
    spread = {}
    for name, pot in (("plain", plain), ("3i", Potential(tmp_path / "m.pkl", average="3i"))):
        energies = [pot.energy_and_forces(pos @ q.T, cell @ q.T, numbers)[0] for q in r]
        spread[name] = np.std(energies)
    assert spread["3i"] < 0.2 * spread["plain"], spread


def test_plain_averaged_and_randomly_rotated_models_are_one_transform_chain(tmp_path, system):
    """Plain = the identity grid; the averaged model is the weighted mean of the rotated plain
    model; a randomly rotated model is the plain model turned by a fresh rotation at every call."""
    pos, numbers, cell, params = system
    modelfile.save(tmp_path / "m.pkl", CONFIG, params)
    plain = Potential(tmp_path / "m.pkl")
    e, f = _ef(params, _graph(pos, numbers, cell))
    e_plain, f_plain = plain.energy_and_forces(pos, cell, numbers)
    assert e_plain == pytest.approx(float(e), rel=1e-13) and plain.grid is rotations.IDENTITY
    np.testing.assert_allclose(f_plain, f, rtol=0, atol=1e-12)
    grid = rotations.grid("i")
    e_avg, f_avg = Potential(tmp_path / "m.pkl", average=grid).energy_and_forces(pos, cell, numbers)
    e_inv, f_inv = plain.energy_and_forces(-pos, -cell, numbers)
    assert e_avg == pytest.approx((e_plain + e_inv) / 2, rel=1e-13)
    np.testing.assert_allclose(f_avg, (f_plain - f_inv) / 2, rtol=0, atol=1e-12)
    rnd = Potential(tmp_path / "m.pkl", random_rotation=True, seed=3)
    draws = [rnd.energy_and_forces(pos, cell, numbers) for _ in range(3)]
    q = np.asarray(rotations.random_rotations(jax.random.split(jax.random.PRNGKey(3))[1], 1)[0])  # the first draw
    e_q, f_q = plain.energy_and_forces(pos @ q.T, cell @ q.T, numbers)
    assert draws[0][0] == pytest.approx(e_q, rel=1e-13)
    np.testing.assert_allclose(draws[0][1], f_q @ q, rtol=0, atol=1e-10)
    assert len({d[0] for d in draws}) == 3  # a fresh rotation at every call
    assert averaging.spread(np.array([d[0] for d in draws])) > 0


def test_equivariance_harness_passes_an_invariant_potential_and_flags_the_model(system):
    from eqt_model.testing import check_symmetries

    pos, numbers, cell, params = system

    def lennard_jones(x, box, nums):  # invariant pair potential in JAX (open system)
        def energy(x):
            d = x[:, None] - x[None]
            r2 = jnp.sum(d**2, -1) + jnp.eye(len(x))
            inv6 = (1.0 / r2) ** 3
            return 0.5 * jnp.sum(jnp.where(jnp.eye(len(x)) > 0, 0.0, 4 * (inv6**2 - inv6)))
        e, g = jax.value_and_grad(energy)(jnp.asarray(x))
        return e, -g

    cluster = pos[:9] - pos[:9].mean(0)
    report = check_symmetries(lennard_jones, cluster * 1.5, None, numbers[:9])
    assert report.passed, report.summary()

    def eqt(x, box, nums):
        return _ef(params, _graph(x, nums, box))

    report = check_symmetries(eqt, pos, cell, numbers, n_rotations=4)
    assert report.failed() == ["inversion", "rotation"], report.summary()
    assert "FAIL rotation" in report.summary()


def _lennard_jones_float32(x):
    """An exactly invariant pair potential computed in float32: (energy, forces float32)."""
    x = np.asarray(x, np.float32)
    d = x[:, None] - x[None]
    r2 = np.sum(d**2, -1) + np.eye(len(x), dtype=np.float32)
    inv6 = (1 / r2) ** 3
    np.fill_diagonal(inv6, 0)
    energy = 0.5 * np.sum(4 * (inv6**2 - inv6))
    forces = np.sum((24 * (2 * inv6**2 - inv6) / r2)[..., None] * d, axis=1)
    return energy, forces.astype(np.float32)


def test_equivariance_harness_takes_a_float32_potential_at_its_precision(system):
    """eqt's Potential computes in float32 unless JAX's x64 is on, but returns float64 arrays: the harness
    asks it (Potential.dtype) instead of the arrays, so translation and permutation pass."""
    from eqt_model.calculator import Potential
    from eqt_model.testing import check_symmetries

    pos, numbers, cell, _ = system
    small = os.path.join(os.path.dirname(__file__), "..", "example_data", "model-small.pkl")
    with jax.enable_x64(False):
        potential = Potential(small)
        assert potential.dtype == "float32"
        report = check_symmetries(potential.energy_and_forces, pos, cell, numbers, n_rotations=2)
    assert {"translation", "permutation"}.isdisjoint(report.failed()), report.summary()
    assert report.checks[0].forces_tolerance > 1e-7  # float32 tolerances, not float64's


def test_equivariance_harness_tolerances_follow_the_precision_of_the_forces(system):
    """A float32 potential gets float32 tolerances when its forces are float32; one that returns float64
    arrays fails the float64 tolerances, and the summary says the errors are float32 rounding."""
    from eqt_model.testing import check_symmetries

    pos, numbers, _, _ = system
    cluster = (pos[:9] - pos[:9].mean(0)) * 1.5
    as32 = check_symmetries(lambda x, box, z: _lennard_jones_float32(x), cluster, None, numbers[:9])
    assert as32.passed, as32.summary()
    as64 = check_symmetries(lambda x, box, z: [np.float64(v) if np.ndim(v) == 0 else np.asarray(v, np.float64)
                                               for v in _lennard_jones_float32(x)], cluster, None, numbers[:9])
    assert not as64.passed and "pass dtype='float32'" in as64.summary(), as64.summary()
    told = check_symmetries(lambda x, box, z: [np.asarray(v, np.float64) for v in _lennard_jones_float32(x)],
                            cluster, None, numbers[:9], dtype="float32")
    assert told.passed, told.summary()
