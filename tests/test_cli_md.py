"""eqt-md and the model potentials of eqt_model.forcefield: the jitted model against the host evaluation,
skin independence, exact restarts, recording and replay, clean stops, bad input."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import jax
import numpy as np
import pytest
import xarray as xr
from ase import Atoms
from click.testing import CliRunner

from eqt_analysis import io
from eqt_cli import md as md_cli

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "example_data" / "model-small.pkl"
BOX = ROOT / "example_data" / "water64_tip3p.nc"


@pytest.fixture(scope="module")
def box_frame():
    ds = io.open_trajectory(BOX).isel(frame=0).load()
    return ds["atomic_number"].values, ds["positions"].values.astype(float), ds["cell"].values


@pytest.fixture
def cluster(tmp_path, box_frame):
    """Four water molecules of the example box as an open cluster, in an xyz file."""
    numbers, positions, _ = box_frame
    path = tmp_path / "cluster.xyz"
    ase.io.write(path, Atoms(numbers=numbers[:12], positions=positions[:12] - positions[:12].mean(0)))
    return path


def run(args):
    return CliRunner().invoke(md_cli.main, [str(a) for a in args])


def frames(path):
    return io.open_trajectory(path).load()


@pytest.fixture(scope="module")
def x64():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


@pytest.mark.parametrize("grid", [None, "i", "2"])
def test_model_potential_equals_the_host_evaluation(x64, box_frame, grid):
    """The jitted potential on a skin list compacted to the cutoff == eqt_model.calculator.Potential (ASE list
    at the cutoff, rebuilt per call) on the periodic 64-water box; averaged ones on grids i and 2."""
    from eqt_model import forcefield, modelfile, rotations
    from eqt_model.calculator import Potential

    numbers, positions, cell = box_frame
    config, params, _ = modelfile.load(MODEL)
    params = jax.tree_util.tree_map(lambda a: jax.numpy.asarray(a, float), params)
    species = np.searchsorted(config.species, numbers)
    nb = forcefield.neighbor_list(positions, cell, [True] * 3, config.cutoff, skin=1.0)
    slots = forcefield.slot_counts(nb)  # three blocks of atoms sorted by their pairs within the cutoff
    assert len(slots) == 3 and slots == tuple(sorted(slots)) and nb.neighbors.shape[1] > slots[-1]  # the skin's
    assert not bool(nb.invalid(jax.numpy.asarray(positions)))
    for b in range(3):  # a block with fewer slots than its atoms' pairs is an overflow: the list is invalid
        fewer = nb._replace(slots=tuple(jax.numpy.zeros(k - 4 * (i == b), jax.numpy.int8) for i, k in enumerate(slots)))
        assert bool(fewer.invalid(jax.numpy.asarray(positions)))
    pot = forcefield.model_potential(params, config, species, grid and rotations.grid(grid), per_call=2)
    e, f = pot(jax.numpy.asarray(positions), nb, jax.random.PRNGKey(0))
    e_ref, f_ref = Potential(MODEL, average=grid).energy_and_forces(positions, cell, numbers, [True] * 3)
    assert float(e) == pytest.approx(e_ref, abs=1e-9)
    np.testing.assert_allclose(np.asarray(f), f_ref, atol=1e-9)
    assert np.abs(f_ref).max() > 0.5


def test_model_potential_in_many_blocks_equals_the_host_evaluation(x64, box_frame, tmp_path):
    """A 768-atom box (2 x 2 x 1 copies of the 64-water box) is compacted into four equal blocks of 192
    atoms, the calculator's blocks; the jitted potential equals Potential there too (a small random model)."""
    from ase import Atoms

    from eqt_model import forcefield, model, modelfile
    from eqt_model.calculator import Potential
    from eqt_model.config import ModelConfig

    box = Atoms(numbers=box_frame[0], positions=box_frame[1], cell=box_frame[2], pbc=True).repeat((2, 2, 1))
    numbers, positions, cell = box.numbers, box.positions, box.cell.array
    config = ModelConfig(species=(1, 8), d_model=8, n_message_layers=2, n_heads=2, d_feedforward=8)
    params = model.init(jax.random.PRNGKey(3), config, zero_heads=False)
    modelfile.save(tmp_path / "m.pkl", config, params)
    nb = forcefield.neighbor_list(positions, cell, [True] * 3, config.cutoff, skin=1.0)
    assert len(forcefield.slot_counts(nb)) == 4
    pot = jax.jit(forcefield.model_potential(params, config, np.searchsorted(config.species, numbers)))
    e, f = pot(jax.numpy.asarray(positions), nb, jax.random.PRNGKey(0))
    e_ref, f_ref = Potential(tmp_path / "m.pkl").energy_and_forces(positions, cell, numbers, [True] * 3)
    assert float(e) == pytest.approx(e_ref, abs=1e-8) and np.abs(f_ref).max() > 0.1
    np.testing.assert_allclose(np.asarray(f), f_ref, atol=1e-9)


def test_float32_stays_float32_with_x64_enabled(x64, box_frame):
    """A float32 run in a process where float64 is on (another command ran with --float64) stays float32:
    the model promotes nothing (a NumPy float64 scalar in it did)."""
    from eqt_model import forcefield, modelfile

    numbers, positions, cell = box_frame
    config, params, _ = modelfile.load(MODEL)
    params = jax.tree_util.tree_map(lambda a: jax.numpy.asarray(a, jax.numpy.float32), params)
    nb = forcefield.neighbor_list(positions, cell, [True] * 3, config.cutoff, 1.0, dtype=jax.numpy.float32)
    pot = forcefield.model_potential(params, config, np.searchsorted(config.species, numbers))
    e, f = jax.jit(pot)(jax.numpy.asarray(positions, jax.numpy.float32), nb, jax.random.PRNGKey(0))
    assert e.dtype == f.dtype == jax.numpy.float32


def test_model_trajectory_does_not_depend_on_the_skin(x64, box_frame):
    """The same 100 steps with skins of 0.3 Å (several rebuilds) and 2 Å (none) agree to 1e-10 Å."""
    from eqt_model import forcefield, md, modelfile

    numbers, positions, cell = box_frame
    config, params, _ = modelfile.load(MODEL)
    params = jax.tree_util.tree_map(lambda a: jax.numpy.asarray(a, float), params)
    pot = forcefield.model_potential(params, config, np.searchsorted(config.species, numbers))
    masses = jax.numpy.asarray(np.where(numbers == 8, 15.999, 1.008))
    v = md.maxwell_boltzmann(jax.random.PRNGKey(1), masses, md.KB * 600.0)
    ends, rebuilds = [], []
    for skin in (0.3, 2.0):
        nb = forcefield.neighbor_list(positions, cell, [True] * 3, config.cutoff, skin)
        count = []

        def rebuild(x, old, more_slots=False, count=count, skin=skin):
            count.append(1)
            return forcefield.rebuilder(config.cutoff, skin, [True] * 3)(x, old, more_slots)
        init, step = md.integrator(pot, 0.0005)
        state = init(positions, v, masses, nb)
        for state, nb in md.simulate(step, state, nb, jax.random.PRNGKey(0), 100, 100, rebuild):
            pass
        ends.append(np.asarray(state.positions))
        rebuilds.append(len(count))
    print(f"rebuilds {rebuilds}, max |Δx| {np.abs(ends[0] - ends[1]).max():.1e} Å")
    assert rebuilds[0] >= 5 and rebuilds[1] < rebuilds[0]  # the wide skin rebuilds only on slot overflows
    assert np.abs(ends[0] - ends[1]).max() < 1e-10
    assert np.abs(ends[0] - positions).max() > 0.1


@pytest.mark.parametrize("mode", [["--thermostat", "langevin", "--average", "i", "--mts", "2"],
                                  ["--thermostat", "svr", "--random-rotation", "--record", "i"]])
def test_restart_continues_bit_for_bit(tmp_path, cluster, mode):
    common = [MODEL, cluster, "--float64", "--stride", "4", "--tau", "20", "-q", *mode]
    whole, part = tmp_path / "whole.nc", tmp_path / "part.nc"
    assert run([*common, "--steps", 24, "-o", whole]).exit_code == 0
    first = run([*common, "--steps", 12, "-o", part])
    assert first.exit_code == 0, first.output
    assert frames(part).sizes["frame"] == 4
    again = run([*common, "--steps", 24, "-o", part, "--restart"])
    assert again.exit_code == 0, again.output
    a, b = frames(whole), frames(part)
    assert a.sizes["frame"] == b.sizes["frame"] == 7
    for name in ("positions", "velocities", "forces", "conserved_energy", "step", "time"):
        assert np.array_equal(a[name].values, b[name].values), name
    assert np.abs(a["positions"].values[-1] - a["positions"].values[0]).max() > 0.01
    done = run([*common, "--steps", 24, "-o", part, "--restart"])
    assert done.exit_code == 0 and "nothing to do" in done.output


def test_restart_must_match_the_run(tmp_path, cluster):
    out = tmp_path / "run.nc"
    assert run([MODEL, cluster, "--steps", 4, "--stride", 2, "-q", "-o", out]).exit_code == 0
    before = out.read_bytes()
    result = run([MODEL, cluster, "--steps", 8, "--stride", 2, "--timestep", 1.0, "-q", "-o", out, "--restart"])
    assert result.exit_code == 2 and "does not match" in result.output and "--timestep" in result.output
    assert out.read_bytes() == before
    result = run([MODEL, cluster, "--steps", 8, "--stride", 2, "-q", "-o", out])  # no --restart: refused
    assert result.exit_code == 2 and "--restart" in result.output and out.read_bytes() == before
    from cli.outputs import hold_lock, is_locked
    assert not is_locked(out)
    lock = hold_lock(out)  # as a running eqt-md holds it
    assert is_locked(out)
    result = run([MODEL, cluster, "--steps", 8, "--stride", 2, "-q", "-o", out, "--restart"])
    assert result.exit_code == 2 and "another process (an eqt-md run) is writing it" in result.output
    assert out.read_bytes() == before
    lock.close()
    assert not is_locked(out)
    # frames stay evenly spaced: the stride may not change, the steps must be a multiple of it
    for args, says in ((["--steps", 8, "--stride", 4], "was written every 2 steps: restart it with --stride 2"),
                       (["--steps", 9, "--stride", 2], "9 steps are not a multiple of --stride (2)"),
                       (["--time", 0.0001, "--stride", 2], "shorter than one --timestep")):
        result = run([MODEL, cluster, *args, "-q", "-o", out, "--restart"])
        assert result.exit_code == 2 and says in result.output, result.output
    assert out.read_bytes() == before
    # a finished run whose trajectory lost frames is refused, not declared done
    cut = tmp_path / "cut.nc"
    cut.write_bytes(before[:len(before) // 2])
    Path(str(cut) + ".ckpt").write_bytes(Path(str(out) + ".ckpt").read_bytes())
    result = run([MODEL, cluster, "--steps", 4, "--stride", 2, "-q", "-o", cut, "--restart"])
    assert result.exit_code == 2 and "nothing to do" not in result.output, result.output


def test_record_and_replay(tmp_path, cluster):
    """--record stores the plain and averaged energies of each frame; --replay of that trajectory gives them
    again; both equal the host evaluation (eqt_model.calculator.Potential)."""
    from eqt_model.calculator import Potential

    out, again = tmp_path / "rec.nc", tmp_path / "replay.nc"
    result = run([MODEL, cluster, "--steps", 8, "--stride", 2, "--record", "2", "--record-forces", "--float64", "-q",
                  "-o", out])
    assert result.exit_code == 0, result.output
    ds = frames(out)
    plain, averaged = Potential(MODEL), Potential(MODEL, average="2")
    for k in range(ds.sizes["frame"]):
        x, z = ds["positions"].values[k], ds["atomic_number"].values
        e_p, f_p = plain.energy_and_forces(x, None, z, [False] * 3)
        e_a, _ = averaged.energy_and_forces(x, None, z, [False] * 3)
        assert float(ds["energy_plain"][k]) == pytest.approx(e_p, abs=1e-8)
        assert float(ds["energy_averaged"][k]) == pytest.approx(e_a, abs=1e-8)
        assert float(ds["potential_energy"][k]) == pytest.approx(e_p, abs=1e-8)  # the run used the plain model
        np.testing.assert_allclose(ds["forces_plain"].values[k], f_p, atol=1e-8)
    assert np.abs(ds["energy_plain"] - ds["energy_averaged"]).max() > 1e-4  # the model does break symmetry
    result = run([MODEL, out, "--replay", "--record", "2", "--float64", "-q", "-o", again])
    assert result.exit_code == 0, result.output
    rep = frames(again)
    np.testing.assert_allclose(rep["energy_averaged"], ds["energy_averaged"], atol=1e-8)
    assert np.array_equal(rep["positions"].values, ds["positions"].values)  # float64 in, float64 out (was float32)
    assert rep["energy_averaged"].attrs["grid"] == "2"
    # the rotational error along the run, read back by eqt-rotvar and eqt-tcf from the .nc
    from eqt_cli import rotvar, tcf
    table = tmp_path / "rotvar.nc"
    result = CliRunner().invoke(rotvar.main, ["--from-properties", str(out), "-o", str(table)])
    assert result.exit_code == 0, result.output
    error = xr.open_dataset(table)["energy_error"].sel(grid="1")
    expected = np.mean(np.abs(ds["energy_plain"].values - ds["energy_averaged"].values)) * 1e3  # meV
    assert float(error) == pytest.approx(expected, rel=1e-6)
    result = CliRunner().invoke(tcf.main, [str(out), "-v", "energy_plain", "--minus", "energy_averaged", "-q",
                                           "-o", str(tmp_path / "tcf.nc"), "--blocks", "2"])
    assert result.exit_code == 0, result.output
    acf = xr.open_dataset(tmp_path / "tcf.nc")["acf"].values
    delta = ds["energy_plain"].values - ds["energy_averaged"].values
    assert acf[0] == pytest.approx(np.var(delta), rel=1e-6)
    np.testing.assert_allclose(rep["positions"], ds["positions"])


def test_blow_up_stops_with_an_intact_trajectory(tmp_path, cluster):
    """A calculator that returns NaN from its 30th call: exit 1 with a message, the frames before it kept."""
    out = tmp_path / "nan.nc"
    result = run(["--calculator", "tests.test_cli_md:nan_later", cluster, "--steps", 60, "--stride", 5, "-q",
                  "-o", out])
    assert result.exit_code == 1 and "blew up" in result.output, result.output
    ds = frames(out)
    assert 2 <= ds.sizes["frame"] <= 7 and np.all(np.isfinite(ds["positions"].values))


def nan_later():
    """An ASE calculator (harmonic wells at the start positions) that returns NaN from its 30th call."""
    from ase.calculators.calculator import Calculator, all_changes

    class NaNLater(Calculator):
        implemented_properties = ["energy", "forces"]
        calls = 0

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            NaNLater.calls += 1
            x = self.atoms.positions
            e = 0.5 * np.sum(x ** 2) * (np.nan if NaNLater.calls >= 30 else 1.0)
            self.results = {"energy": e, "forces": -x * (np.nan if NaNLater.calls >= 30 else 1.0)}
    return NaNLater()


@pytest.mark.parametrize("case", ["unknown species", "overlap", "dt", "temperature", "temperature 1e300", "restart",
                                  "calculator", "mts", "velocities", "foreign checkpoint", "replay --average", "replay --stride"])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, cluster, case):
    out = tmp_path / "out.nc"
    structure = cluster
    args = [MODEL, structure, "--steps", 4, "--stride", 2, "-q", "-o", out]
    if case == "unknown species":
        ase.io.write(tmp_path / "c.xyz", Atoms("CO", positions=[[0, 0, 0], [1.2, 0, 0]]))
        args[1] = tmp_path / "c.xyz"
    elif case == "overlap":
        ase.io.write(tmp_path / "o.xyz", Atoms("OHH", positions=[[0, 0, 0], [0.1, 0, 0], [0, 1, 0]]))
        args[1] = tmp_path / "o.xyz"
    elif case == "dt":
        args += ["--timestep", "0"]
    elif case == "temperature":
        args += ["--temperature", "-5"]
    elif case == "temperature 1e300":  # overflowed numpy before its one line (kT, thermal velocities)
        args += ["--temperature", "1e300", "--velocities", "thermal"]
    elif case == "restart":
        args += ["--restart"]
    elif case == "calculator":
        args = ["--calculator", "no_such_module:make", structure, "-o", out]
    elif case == "mts":
        args += ["--mts", "2"]
    elif case == "velocities":
        args += ["--velocities", "input"]
    elif case == "foreign checkpoint":  # a user's file where the run's checkpoint would go
        Path(str(out) + ".ckpt").write_text("precious")
    elif case.startswith("replay"):  # a replay moves no atom: dynamics options were silently ignored
        args = [MODEL, structure, "--replay", "--record", "i", "-q", "-o", out,
                *(["--average", "2"] if case.endswith("average") else ["--stride", "2", "--free-com"])]
    result = run(args)
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not out.exists()
    if case == "foreign checkpoint":
        assert Path(str(out) + ".ckpt").read_text() == "precious"
    else:
        assert not Path(str(out) + ".ckpt").exists()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_kill_leaves_a_readable_trajectory_and_restart_finishes_it(tmp_path, cluster, signum):
    """kill -9 (or SIGTERM) in the middle of a run: every flushed frame reads back; --restart completes the run."""
    out = tmp_path / "k.nc"
    args = [sys.executable, "-m", "eqt_cli.md", MODEL, cluster, "--steps", 4000, "--stride", 20, "-q", "-o", out]
    proc = subprocess.Popen([str(a) for a in args], cwd=tmp_path, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.stat().st_size > 0:
            try:
                if io.count_frames(out) >= 3:
                    break
            except Exception:
                pass
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read().decode()
    os.kill(proc.pid, signum)
    proc.wait()
    if signum == signal.SIGTERM:
        message = proc.stderr.read().decode()
        assert proc.returncode == 128 + signum and "continue it with --restart" in message, message
    ds = frames(out)
    n = ds.sizes["frame"]
    assert n >= 3 and np.all(np.isfinite(ds["positions"].values))
    assert list(ds["step"].values) == list(range(0, 20 * n, 20))
    steps = 20 * (n + 2)
    result = run([MODEL, cluster, "--steps", steps, "--stride", 20, "-q", "-o", out, "--restart"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert list(frames(out)["step"].values) == list(range(0, steps + 1, 20))


def test_restart_keeps_only_whole_frames_up_to_the_checkpoint(tmp_path):
    """A frame written after the checkpoint, or cut by an interruption (coordinates only), is not kept."""
    import netCDF4

    from eqt_analysis import trajectory
    from eqt_analysis.io.netcdf import NetCDFWriter

    path = tmp_path / "t.nc"
    x = np.random.default_rng(0).normal(size=(3, 2, 3)) + [[0, 0, 0], [2, 0, 0]]
    with NetCDFWriter(path) as writer:
        writer.write(trajectory.build(x, [8, 1], velocities=np.zeros_like(x), step=[0, 10, 20]))
    with netCDF4.Dataset(path, "a") as nc:  # what an interrupted write of frame 3 left
        nc["coordinates"][3] = x[0]
    assert md_cli._frames_up_to(str(path), 20, 10) == 3
    assert md_cli._frames_up_to(str(path), 10, 10) == 2
    with pytest.raises(Exception, match="no frame of the checkpoint's step 15"):
        md_cli._frames_up_to(str(path), 15, 10)


def test_one_atom_with_fixed_centre_of_mass_is_refused(tmp_path):
    ase.io.write(tmp_path / "o.xyz", Atoms("O", positions=[[0, 0, 0]]))
    result = run([MODEL, tmp_path / "o.xyz", "--steps", 2, "--stride", 1, "-q", "-o", tmp_path / "o.nc"])
    assert result.exit_code == 2 and "--free-com" in result.output


def test_closing_speed_is_the_median_over_frame_intervals():
    """eqt-md's closing ns/day: 10 steps of 0.5 fs per second in every interval but one slow one
    (a neighbour list grew and the step recompiled), which the median leaves out."""
    from eqt_cli.md import _speed

    marks = [(0.0, 10), (1.0, 20), (2.0, 30), (12.0, 40), (13.0, 50)]
    line = _speed(0, 50, time.perf_counter(), marks, 0.5)
    rate = 10 * 0.5e-6 * 86400  # ns per day at 10 steps of 0.5 fs per second
    assert f"{rate:.4g} ns/day after the first frame (median over 4 frame intervals" in line
    assert "ns/day" not in _speed(0, 10, time.perf_counter(), marks[:1], 0.5)
