"""eqt-opt and eqt_model.optimize: relaxations against analytic minima (Lennard-Jones dimer and
13-atom icosahedron, a rattled EMT crystal), the example model on a water molecule, --compare,
an exact symmetry of the inversion average, and bad inputs (exit 2, nothing written)."""
import io
import json
import os
from pathlib import Path

import ase.io
import numpy as np
import pytest
import xarray as xr
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.cluster import Icosahedron
from click.testing import CliRunner

from eqt_cli import opt
from eqt_model import optimize
from eqt_analysis.results import schema_problems

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "example_data" / "model-small.pkl"
ICE = ROOT.parent / "shared" / "data" / "hayw-reim97jcp-cells.xyz"
LJ = ["--calculator", "ase.calculators.lj:LennardJones"]
R_MIN = 2 ** (1 / 6)  # Lennard-Jones minimum (sigma = 1 Å)
E0_SHIFT = 4 * (3.0**-12 - 3.0**-6)  # ASE's LJ pair energy at its cutoff rc = 3 sigma (subtracted per pair)
E_LJ13 = -44.326801  # global minimum of the LJ13 cluster (icosahedron), epsilon units


def run(args, cwd, ok=True):
    """Invoke eqt-opt in `cwd`; returns the click Result (checked for exit code 0 when ok)."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(opt.main, [str(a) for a in args])
    finally:
        os.chdir(old)
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def write(path, frames):
    ase.io.write(path, frames, format="extxyz")
    return path


def water(seed=0):
    w = molecule("H2O")
    w.positions += np.random.default_rng(seed).normal(scale=0.05, size=(3, 3))
    return w


@pytest.mark.parametrize("optimizer", ["BFGS", "FIRE"])
def test_lj_dimer_relaxes_to_the_analytic_minimum(tmp_path, optimizer):
    write(tmp_path / "dimer.xyz", Atoms("Ar2", positions=[[0, 0, 0], [0.3, -0.2, 1.4]]))
    run([*LJ, "dimer.xyz", "--optimizer", optimizer, "--fmax", "0.001", "-q"], tmp_path)
    relaxed = ase.io.read(tmp_path / "dimer.relaxed.xyz")
    assert relaxed.get_distance(0, 1) == pytest.approx(R_MIN, abs=1e-3)
    ds = xr.open_dataset(tmp_path / "dimer.opt.nc")
    assert schema_problems(ds) == [] and ds.attrs["result_type"] == "opt" and ds.attrs["optimizer"] == optimizer
    assert float(ds["energy"][0, 0]) == pytest.approx(-1 - E0_SHIFT, abs=1e-6)  # epsilon = 1 eV
    assert float(ds["energy"][0, 0]) == pytest.approx(relaxed.get_potential_energy())
    assert int(ds["converged"][0, 0]) == 1 and 0 < int(ds["steps"][0, 0]) < 100
    assert float(ds["max_force"][0, 0]) < 1e-3 < float(ds["max_force_initial"][0, 0])
    start = np.linalg.norm([0.3, -0.2, 1.4])
    assert float(ds["rms_displacement"][0, 0]) == pytest.approx((start - R_MIN) / 2, abs=1e-3)  # both atoms move
    assert int(ds["n_molecules"][0]) == 2  # not water: atoms


def test_fire_bfgs_and_lbfgs_reach_the_lj13_icosahedron(tmp_path):
    cluster = Icosahedron("Ar", 2, latticeconstant=R_MIN * np.sqrt(2))
    cluster.positions += np.random.default_rng(1).normal(scale=0.05, size=cluster.positions.shape)
    write(tmp_path / "lj13.xyz", cluster)
    energies = {}
    for name in ("BFGS", "LBFGS", "FIRE"):
        run([*LJ, "lj13.xyz", "--optimizer", name.lower(), "--fmax", "1e-4", "--steps", "2000", "-q",
             "-o", f"{name}.nc", "--structures-out", f"{name}.xyz"], tmp_path)
        energies[name] = float(xr.open_dataset(tmp_path / f"{name}.nc")["energy"][0, 0])
    expected = E_LJ13 - 78 * E0_SHIFT  # 78 pairs, all inside the cutoff
    assert energies["BFGS"] == pytest.approx(expected, abs=1e-5)
    assert energies["LBFGS"] == pytest.approx(expected, abs=1e-5)
    assert energies["FIRE"] == pytest.approx(expected, abs=1e-5)
    a, b, c = (ase.io.read(tmp_path / f"{n}.xyz") for n in ("BFGS", "LBFGS", "FIRE"))
    # the same atoms in the same places, up to a rigid motion (FIRE's velocities may turn the cluster)
    np.testing.assert_allclose(a.get_all_distances(), b.get_all_distances(), atol=1e-3)
    np.testing.assert_allclose(a.get_all_distances(), c.get_all_distances(), atol=1e-3)


def test_periodic_crystal_relaxes_back_to_the_lattice(tmp_path):
    perfect = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    rattles = [np.random.default_rng(s).normal(scale=scale, size=perfect.positions.shape)
               for s, scale in ((2, 0.03), (3, 0.08))]
    frames = []
    for d in rattles:
        a = perfect.copy()
        a.positions += d
        frames.append(a)
    write(tmp_path / "cu.xyz", frames)
    run(["--calculator", "ase.calculators.emt:EMT", "cu.xyz", "--fmax", "1e-3", "-q"], tmp_path)
    ds = xr.open_dataset(tmp_path / "cu.opt.nc")
    perfect.calc = EMT()
    e_perfect = perfect.get_potential_energy()
    np.testing.assert_allclose(ds["energy"].values[0], e_perfect, atol=1e-4)
    starts = []
    for a in frames:
        a.calc = EMT()
        starts.append(a.get_potential_energy())
    np.testing.assert_allclose(ds["energy_initial"].values[0], starts, atol=1e-9)
    np.testing.assert_allclose(ds["relative_energy_initial"].values[0],
                               (np.array(starts) - min(starts)) / 32 * 1e3, atol=1e-6)
    assert ds["relative_energy_initial"].values[0, 1] > 1  # the stronger rattle is higher, meV/atom
    np.testing.assert_allclose(ds["relative_energy"].values[0], 0, atol=1e-3)
    # back on the lattice, shifted by the mean rattle (no net force moves the centre)
    expected_rms = [np.sqrt(np.mean(np.sum((d - d.mean(0)) ** 2, axis=1))) for d in rattles]
    np.testing.assert_allclose(ds["rms_displacement"].values[0], expected_rms, atol=2e-3)
    relaxed = ase.io.read(tmp_path / "cu.relaxed.xyz", index=":")
    for a, d in zip(relaxed, rattles):
        np.testing.assert_allclose(a.cell.array, perfect.cell.array)  # the cell stays fixed
        np.testing.assert_allclose(a.positions, perfect.positions + d.mean(0), atol=2e-3)
        assert a.info["converged"] == 1 and a.info["model"] == "plain"


def test_example_model_relaxes_a_water_molecule(tmp_path):
    labelled = water()
    labelled.calc = SinglePointCalculator(labelled, energy=1.0, forces=np.ones((3, 3)))  # labels are left behind
    write(tmp_path / "h2o.xyz", labelled)
    result = run([MODEL, "h2o.xyz", "-q", "--json"], tmp_path)
    rows = json.loads(result.stdout)
    ds = xr.open_dataset(tmp_path / "h2o.opt.nc")
    assert rows[0]["conv"] == 1 and rows[0]["steps"] == int(ds["steps"][0, 0])
    assert rows[0]["E"] == pytest.approx(float(ds["energy"][0, 0]))  # eV: the one number of a single structure
    assert float(ds["energy"][0, 0]) < float(ds["energy_initial"][0, 0]) - 0.01
    assert float(ds["max_force"][0, 0]) < 0.01 < float(ds["max_force_initial"][0, 0])
    assert int(ds["n_molecules"][0]) == 1 and ds.attrs["model"] == str(MODEL)
    relaxed = ase.io.read(tmp_path / "h2o.relaxed.xyz")
    assert relaxed.get_potential_energy() == pytest.approx(float(ds["energy"][0, 0]))
    assert np.max(np.linalg.norm(relaxed.get_forces(), axis=1)) == pytest.approx(float(ds["max_force"][0, 0]))
    for h in (1, 2):  # a water molecule, not an explosion
        assert 0.93 < relaxed.get_distance(0, h) < 1.0
    assert 95 < relaxed.get_angle(1, 0, 2) < 112
    # a rerun with the default names replaces them; a foreign file under the default name is refused
    run([MODEL, "h2o.xyz", "-q"], tmp_path)
    (tmp_path / "other.xyz").write_bytes((tmp_path / "h2o.xyz").read_bytes())
    (tmp_path / "other.relaxed.xyz").write_text("mine\n")
    bad = run([MODEL, "other.xyz", "-q"], tmp_path, ok=False)
    assert bad.exit_code == 2 and "other.relaxed.xyz" in bad.stderr
    assert (tmp_path / "other.relaxed.xyz").read_text() == "mine\n" and not (tmp_path / "other.opt.nc").exists()


def test_compare_plain_and_averaged_relaxations(tmp_path):
    from eqt_model.calculator import EQTCalculator

    turned = water(4)
    turned.rotate(100, (1, 2, 3))  # the same molecule, turned: the plain model sees another energy
    write(tmp_path / "h2o.xyz", [water(0), turned])
    result = run([MODEL, "h2o.xyz", "--compare", "2", "-q", "-o", "-"], tmp_path)
    ds = xr.open_dataset(result.stdout_bytes)
    assert "rms_diff[2]" in result.stderr  # the table goes to stderr when the result takes stdout
    assert list(ds["model"].values) == ["plain", "2"] and list(ds["compared"].values) == ["2"]
    assert ds.attrs["float64"] == 1 and schema_problems(ds) == []
    frames = ase.io.read(tmp_path / "h2o.relaxed.xyz", index=":")
    assert [(a.info["model"], a.info["structure"]) for a in frames] == [
        ("plain", 0), ("plain", 1), ("averaged on grid 2", 0), ("averaged on grid 2", 1)]
    for k in range(2):
        plain, averaged = frames[k].positions, frames[2 + k].positions
        assert float(ds["rms_position_difference"][0, k]) == pytest.approx(optimize.rms_difference(averaged, plain),
                                                                          abs=1e-7)  # positions in the xyz: 1e-8 Å
    assert np.all(ds["rms_position_difference"].values > 1e-4)  # the example model breaks the symmetry (0 if not)
    # each model's energies are its own: the averaged model re-evaluated on its relaxed structure
    check = frames[2].copy()
    check.calc = EQTCalculator(MODEL, average="2")
    assert check.get_potential_energy() == pytest.approx(float(ds["energy"].sel(model="2")[0]), abs=1e-6)
    # two molecules: relative energies per molecule against the lowest of each model
    for name in ("relative_energy", "relative_energy_initial"):
        for m in ("plain", "2"):
            e = ds[name.replace("relative_energy", "energy")].sel(model=m).values
            np.testing.assert_allclose(ds[name].sel(model=m).values, (e - e.min()) * 1e3, atol=1e-9)
    # both relax to the same molecule: its energies differ by the rotational error of each model
    plain, averaged = ds["relative_energy"].values.max(axis=1)
    assert averaged < plain / 3 and averaged < 0.5, (plain, averaged)


def test_compare_with_an_invariant_calculator_finds_no_difference(tmp_path):
    cluster = Icosahedron("Ar", 2, latticeconstant=R_MIN * np.sqrt(2))
    cluster.positions += np.random.default_rng(6).normal(scale=0.05, size=cluster.positions.shape)
    write(tmp_path / "lj13.xyz", cluster)
    result = run([*LJ, "lj13.xyz", "--compare", "2i", "-q", "--structures-out", "-", "--json"], tmp_path)
    rows = json.loads(result.stderr)  # the relaxed structures take stdout, so the table goes to stderr
    frames = list(ase.io.iread(io.StringIO(result.stdout), format="extxyz"))
    assert [a.info["model"] for a in frames] == ["plain", "averaged on grid 2i"]
    ds = xr.open_dataset(tmp_path / "lj13.opt.nc")
    np.testing.assert_allclose(ds["energy"].values[1], ds["energy"].values[0], atol=1e-9)
    assert float(ds["rms_position_difference"][0, 0]) < 1e-6 and rows[0]["rms_diff[2i]"] < 1e-6
    # the averaged relaxation starts from the plain minimum: for an invariant model nothing is left to do
    assert ds["steps"].values[0, 0] > 5 and ds["steps"].values[1, 0] == 0
    np.testing.assert_allclose(ds["energy_initial"].values[1], ds["energy_initial"].values[0], atol=1e-9)


def rattled_clusters(n):
    """n rattled LJ13 icosahedra, 10 Å apart along x (each file's structures told apart by x)."""
    clusters = []
    for k in range(n):
        c = Icosahedron("Ar", 2, latticeconstant=R_MIN * np.sqrt(2))
        c.positions += np.random.default_rng(k).normal(scale=0.05, size=c.positions.shape) + [10.0 * k, 0, 0]
        clusters.append(c)
    return clusters


class FailingLJ:
    """ASE's Lennard-Jones calculator that raises on the structure whose first atom sits at x =
    $EQT_TEST_FAIL_X (a stand-in for a run killed in the middle), and sleeps $EQT_TEST_SLEEP s
    per call (a slow model, to be signalled in the middle)."""

    def __new__(cls):
        import time

        from ase.calculators.lj import LennardJones

        class Failing(LennardJones):
            def calculate(self, atoms=None, *args, **kwargs):
                if atoms is not None and f"{atoms.positions[0, 0]:.1f}" == os.environ.get("EQT_TEST_FAIL_X"):
                    raise RuntimeError("killed")
                time.sleep(float(os.environ.get("EQT_TEST_SLEEP", 0)))
                super().calculate(atoms, *args, **kwargs)
        return Failing()


def test_sigterm_keeps_the_finished_relaxations(tmp_path):
    """A real process stopped by SIGTERM after its first relaxation: exit 143, one line naming the
    checkpoint, no result; the same command then finishes without redoing the first."""
    import signal
    import subprocess
    import sys
    import time

    clusters = rattled_clusters(2)
    write(tmp_path / "two.xyz", clusters)
    argv = [str(Path(sys.executable).parent / "eqt-opt"), "--calculator", "tests.test_opt:FailingLJ", "two.xyz", "-q"]
    env = dict(os.environ, EQT_TEST_SLEEP="0.02", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "two.opt.nc.ckpt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1].startswith("Error: interrupted by SIGTERM; the finished relaxations and the "
                                                 "positions of the current one are kept")
    assert not (tmp_path / "two.opt.nc").exists() and (tmp_path / "two.opt.nc.ckpt").exists()
    env.update(EQT_TEST_SLEEP="0", EQT_TEST_FAIL_X=f"{clusters[0].positions[0, 0]:.1f}")  # fails if redone
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "two.opt.nc").exists() and not (tmp_path / "two.opt.nc.ckpt").exists()


def test_a_stopped_run_continues_from_its_checkpoint(tmp_path, monkeypatch):
    """Relaxations finished before a failure are kept in OUTPUT.ckpt and not redone by the same command;
    the results equal an uninterrupted run's; another run's checkpoint is refused (exit 2, kept)."""
    clusters = rattled_clusters(3)
    write(tmp_path / "three.xyz", clusters)
    calc = ["--calculator", "tests.test_opt:FailingLJ"]
    whole = run([*calc, "three.xyz", "-q", "-o", "whole.nc", "--structures-out", "whole.xyz"], tmp_path)
    monkeypatch.setenv("EQT_TEST_FAIL_X", f"{clusters[2].positions[0, 0]:.1f}")
    failed = run([*calc, "three.xyz", "-q"], tmp_path, ok=False)
    assert failed.exit_code != 0 and not (tmp_path / "three.opt.nc").exists()
    saved = np.load(tmp_path / "three.opt.nc.ckpt")
    assert len(json.loads(str(saved["records"]))) == 2  # structures 0 and 1 were done
    other = run([*calc, "three.xyz", "-q", "--fmax", "0.02"], tmp_path, ok=False)
    assert other.exit_code == 2 and "fmax 0.01 there, 0.02 now" in other.stderr
    assert (tmp_path / "three.opt.nc.ckpt").exists()
    monkeypatch.setenv("EQT_TEST_FAIL_X", f"{clusters[0].positions[0, 0]:.1f}")  # would fail if redone
    run([*calc, "three.xyz", "-q"], tmp_path)
    assert not (tmp_path / "three.opt.nc.ckpt").exists()
    a, b = xr.open_dataset(tmp_path / "whole.nc"), xr.open_dataset(tmp_path / "three.opt.nc")
    for name in ("energy", "energy_initial", "steps", "rms_displacement"):
        np.testing.assert_allclose(b[name].values, a[name].values, rtol=1e-12, atol=1e-12)
    assert np.all(a["energy"].values < a["energy_initial"].values) and np.all(a["converged"].values == 1)


def test_a_relaxation_stopped_midway_resumes_from_its_positions():
    """An interrupted relaxation keeps the positions it reached and its steps (through a checkpoint's
    arrays); resumed, it starts there, counts the steps already taken, and reaches the minimum an
    uninterrupted run reaches."""
    from ase.calculators.lj import LennardJones

    atoms = rattled_clusters(1)[0]
    calls, stop_at = [], [8]

    def lj(positions, cell, numbers, pbc):
        calls.append(np.array(positions))
        if len(calls) == stop_at[0]:
            raise KeyboardInterrupt
        a = Atoms(numbers=numbers, positions=positions)
        a.calc = LennardJones()
        return a.get_potential_energy(), a.get_forces()

    saved = []
    with pytest.raises(KeyboardInterrupt):
        optimize.relax_all([atoms], {"plain": lj}, save=lambda done, stopped: saved.append(stopped), save_every=3600)
    stopped = saved[-1]
    assert stopped is not None and stopped.structure == 0 and stopped.steps == 7  # call 1: the start; calls 2-8 after steps 1-7
    np.testing.assert_array_equal(stopped.positions, calls[-1])
    assert not np.allclose(stopped.positions, atoms.positions)
    finished, back = optimize.from_checkpoint(optimize.checkpoint_arrays({"plain": {}}, {"fmax": 0.01}, stopped),
                                              {"fmax": 0.01}, [atoms])
    assert finished == {} and back.steps == stopped.steps and np.array_equal(back.positions, stopped.positions)
    calls.clear()
    stop_at[0] = -1
    resumed = optimize.relax_all([atoms], {"plain": lj}, unfinished=back)["plain"][0]
    np.testing.assert_array_equal(calls[0], atoms.positions)  # the energy before: the input structure's
    np.testing.assert_array_equal(calls[1], stopped.positions)  # then on from where it stopped
    calls.clear()
    whole = optimize.relax_all([atoms], {"plain": lj})["plain"][0]
    assert resumed.converged and whole.converged and resumed.steps > stopped.steps
    assert resumed.energy_initial == whole.energy_initial
    assert abs(resumed.energy - whole.energy) < 1e-6
    distances = [np.sort(r.atoms.get_all_distances().ravel()) for r in (resumed, whole)]  # a free cluster may turn
    np.testing.assert_allclose(*distances, atol=1e-3)


def test_random_rotation_is_seeded(tmp_path):
    write(tmp_path / "h2o.xyz", water(3))
    energies = []
    for seed in (1, 1, 2):
        run([MODEL, "h2o.xyz", "--random-rotation", "--seed", seed, "--steps", "3", "--float64", "-q",
             "-o", "out.nc", "--structures-out", "out.xyz"], tmp_path)
        ds = xr.open_dataset(tmp_path / "out.nc").load()
        assert list(ds["model"].values) == ["random"] and ds.attrs["seed"] == seed
        energies.append(ds["energy"].values[0, 0])
    run([MODEL, "h2o.xyz", "--steps", "3", "--float64", "-q", "-o", "plain.nc", "--structures-out", "p.xyz"], tmp_path)
    plain = xr.open_dataset(tmp_path / "plain.nc")["energy"].values[0, 0]
    assert energies[0] == energies[1] != energies[2]
    assert 1e-7 < abs(energies[2] - plain) < 0.1  # the rotational error of the example model: meV, not eV


def test_inversion_average_relaxes_mirror_images_alike(tmp_path):
    w = water(2)
    mirrored = w.copy()
    mirrored.positions = -w.positions
    write(tmp_path / "pair.xyz", [w, mirrored])
    run([MODEL, "pair.xyz", "--average", "i", "--float64", "-q"], tmp_path)
    ds = xr.open_dataset(tmp_path / "pair.opt.nc")
    e = ds["energy"].sel(model="i").values
    assert e[0] == pytest.approx(e[1], abs=1e-9)
    assert ds["steps"].values[0, 0] == ds["steps"].values[0, 1]
    a, b = ase.io.read(tmp_path / "pair.relaxed.xyz", index=":")
    np.testing.assert_allclose(b.positions, -a.positions, atol=1e-7)


def test_a_structure_that_does_not_converge_is_reported(tmp_path):
    write(tmp_path / "dimer.xyz", Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 1.6]]))
    result = run([*LJ, "dimer.xyz", "--steps", "2", "--fmax", "1e-6"], tmp_path)
    assert "warning:" in result.stderr and "not converged in 2 steps" in result.stderr
    ds = xr.open_dataset(tmp_path / "dimer.opt.nc")
    assert int(ds["converged"][0, 0]) == 0 and int(ds["steps"][0, 0]) == 2
    assert ase.io.read(tmp_path / "dimer.relaxed.xyz").info["converged"] == 0


def test_rms_difference_ignores_a_common_translation():
    x = np.random.default_rng(5).normal(size=(6, 3))
    assert optimize.rms_difference(x + [1.0, -2.0, 0.5], x) == pytest.approx(0, abs=1e-12)
    y = x.copy()
    y[0] += [0.6, 0, 0]  # one atom moved: RMS of (d - mean d)
    d = y - x
    assert optimize.rms_difference(y, x) == pytest.approx(np.sqrt(np.mean(np.sum((d - d.mean(0)) ** 2, 1))))


@pytest.mark.parametrize("case", ["unknown species", "empty file", "cut file", "fmax 0", "fmax negative",
                                  "steps 0", "no module", "not a calculator", "no colon", "two modes",
                                  "calculator and model", "missing input", "bad optimizer"])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, case):
    dimer = write(tmp_path / "dimer.xyz", Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 1.4]]))
    (tmp_path / "empty.xyz").write_text("")
    text = (tmp_path / "dimer.xyz").read_text()
    (tmp_path / "cut.xyz").write_text(text[: len(text) - 40])
    args = {"unknown species": [MODEL, "dimer.xyz"],
            "empty file": [*LJ, "empty.xyz"],
            "cut file": [*LJ, "cut.xyz"],
            "fmax 0": [*LJ, "dimer.xyz", "--fmax", "0"],
            "fmax negative": [*LJ, "dimer.xyz", "--fmax", "-0.1"],
            "steps 0": [*LJ, "dimer.xyz", "--steps", "0"],
            "no module": ["--calculator", "no_such_module:make", "dimer.xyz"],
            "not a calculator": ["--calculator", "os:getcwd", "dimer.xyz"],
            "no colon": ["--calculator", "nocolon", "dimer.xyz"],
            "two modes": [MODEL, "dimer.xyz", "--average", "2", "--compare", "2"],
            "calculator and model": [*LJ, MODEL, "dimer.xyz"],
            "missing input": [*LJ, "nothing.xyz"],
            "bad optimizer": [*LJ, "dimer.xyz", "--optimizer", "GPMin"]}[case]
    before = sorted(os.listdir(tmp_path))
    result = run(args, tmp_path, ok=False)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output
    assert sorted(os.listdir(tmp_path)) == before
    assert (tmp_path / "dimer.xyz").read_text() == dimer.read_text()


@pytest.mark.skipif(not ICE.exists(), reason="../shared/data is absent")
def test_ice_cell_counts_waters_and_starts_relaxing(tmp_path):
    cell = ase.io.read(ICE, index=0)  # 288 atoms, periodic
    write(tmp_path / "ice.xyz", cell)
    run([MODEL, "ice.xyz", "--steps", "3", "-q"], tmp_path)
    ds = xr.open_dataset(tmp_path / "ice.opt.nc")
    assert int(ds["n_molecules"][0]) == 96 and int(ds["n_atoms"][0]) == 288
    assert float(ds["energy"][0, 0]) < float(ds["energy_initial"][0, 0])
    relaxed = ase.io.read(tmp_path / "ice.relaxed.xyz")
    np.testing.assert_allclose(relaxed.cell.array, cell.cell.array)
    assert "pattern" in relaxed.arrays  # the input's extra columns travel along
