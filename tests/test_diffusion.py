"""MSD and D: MDAnalysis EinsteinMSD, ballistic, random-walk and Langevin answers, unwrapping,
the automatic fit window, errors at every lag, the Yeh-Hummer correction."""
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from eqt_analysis import diffusion, io, trajectory
from eqt_analysis.diffusion import MSD
from eqt_analysis.errors import InputError
from eqt_analysis.system import System

from .conftest import TRICLINIC, ou_velocities, wrap

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data" / "water64_tip3p.nc"


def _dataset(positions, cell, dt=0.01, numbers=None):
    n_frames, n_atoms, _ = positions.shape
    numbers = np.full(n_atoms, 18) if numbers is None else numbers
    return trajectory.build(positions, numbers, cell=np.broadcast_to(cell, (n_frames, 3, 3)),
                            time=np.arange(n_frames) * dt)


def _msd(ds, **params):
    return MSD(System.from_dataset(ds), **params).compute(ds)


def test_equals_mdanalysis_einstein_msd_on_unwrapped_oxygens():
    import MDAnalysis as mda
    from MDAnalysis.analysis.msd import EinsteinMSD
    from MDAnalysis.coordinates.memory import MemoryReader

    ds = io.open_trajectory(EXAMPLE).load()
    oxygens = np.flatnonzero(ds["atomic_number"].values == 8)
    cells = ds["cell"].values
    # wrap, let eqt unwrap, and give both codes the same (float32) unwrapped oxygens
    wrapped = np.stack([wrap(p, c) for p, c in zip(ds["positions"].values, cells)])
    unwrapped = diffusion.unwrap(wrapped[:, oxygens], cells).astype(np.float32)
    u = mda.Universe.empty(len(oxygens), trajectory=True)
    u.load_new(unwrapped, format=MemoryReader, dt=0.01)
    ref = EinsteinMSD(u, select="all", msd_type="xyz", fft=True).run().results.timeseries
    res = _msd(_dataset(unwrapped.astype(float), cells), remove_drift=False, fit_stop=0.5)
    ours = res["msd"].sel(group="Ar").values
    np.testing.assert_allclose(ours[1:], ref[1:], rtol=1e-8)
    assert ours[0] == pytest.approx(0.0, abs=1e-9)


def test_ballistic_motion_through_many_boundary_crossings_is_exact():
    """A water molecule flying through a small triclinic box (wrapped every frame)."""
    cell = TRICLINIC * 0.5
    velocity = np.array([13.0, -7.0, 5.0])  # Å/ps: crosses the ~5 Å box many times in 10 ps
    t = np.arange(1000) * 0.01
    local = np.array([[0.0, 0.0, 0.0], [0.9572, 0.0, 0.0], [-0.24, 0.927, 0.0]])
    true = local[None] + t[:, None, None] * velocity
    wrapped = np.stack([wrap(p, cell) for p in true])
    ds = _dataset(wrapped, cell, numbers=np.array([8, 1, 1]))
    ds["molecule"] = ("atom", np.zeros(3, np.int32))
    with pytest.warns(trajectory.EqtWarning, match="log-log slope 2.00, not 1: ballistic"):
        res = _msd(ds, groups="O", com=True, remove_drift=False)
    expected = (t * np.linalg.norm(velocity)) ** 2
    np.testing.assert_allclose(res["msd"].sel(group="O").values, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res["msd"].sel(group="com").values, expected, rtol=1e-9, atol=1e-9)
    # with the drift removed a single molecule does not move at all
    with pytest.warns(trajectory.EqtWarning, match="msd of com is not linear"):
        still = _msd(ds, groups={}, com=True, fit_stop=0.5)["msd"].sel(group="com").values
    assert np.abs(still).max() < 1e-9


def test_random_walk_recovers_its_diffusion_coefficient():
    rng = np.random.default_rng(11)
    d_true, dt, n_frames, n_atoms = 0.25, 0.01, 4000, 400  # Å^2/ps
    steps = rng.normal(scale=np.sqrt(2 * d_true * dt), size=(n_frames, n_atoms, 3))
    positions = np.cumsum(steps, axis=0)
    cell = np.eye(3) * 30.0
    wrapped = np.stack([wrap(p, cell) for p in positions])
    res = _msd(_dataset(wrapped, cell, dt), n_blocks=8, fit_start=0.5, fit_stop=3.0).sel(group="Ar")
    d, err = float(res["D"]), float(res["D_err"])
    assert abs(d - d_true) < 4 * err and err < 0.05 * d_true
    assert int(res["D_blocks"]) == 8 and res["D"].attrs["units"] == "angstrom^2/picosecond"
    lag = res["lag_time"].values
    np.testing.assert_allclose(res["msd"].values[100:300], 6 * d_true * lag[100:300], rtol=0.05)


def test_errors_at_every_lag_that_blocks_hold():
    """msd_err at lags beyond one block comes from fewer, longer blocks (5, 3, 2 of 400 frames),
    NaN only from half the run on; error_blocks says how many blocks are behind each error."""
    rng = np.random.default_rng(3)
    positions = np.cumsum(rng.normal(scale=0.05, size=(400, 20, 3)), axis=0)
    res = _msd(_dataset(positions, np.eye(3) * 50.0), fit_stop=0.5)
    used = res["error_blocks"].values
    assert (used[:80] == 5).all() and (used[80:133] == 3).all() and (used[133:200] == 2).all()
    assert (used[200:] == 0).all()
    err = res["msd_err"].sel(group="Ar").values
    assert np.isfinite(err[1:200]).all() and (err[1:200] > 0).all() and np.isnan(err[200:]).all()


def _brute_force_msd(x):
    """MSD (T,) of positions x (T, n, 3): every origin, every atom, no FFT."""
    return np.array([np.mean(np.sum((x[lag:] - x[:len(x) - lag]) ** 2, axis=-1)) for lag in range(len(x))])


def test_a_run_of_ten_frames_gets_a_default_window():
    """Five blocks of 2 frames hold lag 1 only, so 20-80 % of a block held no lag and the run was
    refused; the default window then takes the positive lags of the first blocking with 2 of them."""
    rng = np.random.default_rng(8)  # ballistic flight (no diffusive stretch to find) and some noise
    t = np.arange(10)[:, None, None] * 0.01
    positions = t * rng.normal(scale=5.0, size=(50, 3)) + rng.normal(scale=0.01, size=(10, 50, 3))
    with pytest.warns(trajectory.EqtWarning) as warned:
        res = _msd(_dataset(positions, np.eye(3) * 50.0)).sel(group="Ar")
    assert any("ballistic" in str(w.message) for w in warned)
    assert any("comes from 3 blocks only" in str(w.message) for w in warned)
    assert (float(res["fit_start"]), float(res["fit_stop"])) == pytest.approx((0.01, 0.02))
    msd = _brute_force_msd(positions - positions.mean(axis=1, keepdims=True))
    slope = np.polyfit([0.01, 0.02], msd[1:3], 1)[0]
    assert float(res["D"]) == pytest.approx(slope / 6, rel=1e-9)
    assert int(res["D_blocks"]) == 3 and np.isfinite(float(res["D_err"]))


def test_runs_are_averaged_over_their_origins_and_never_across_the_join():
    """Two runs of different lengths, the second continuing the first after a deliberate 20 Å
    jump: the MSD averages every origin of each run (weights T_run - lag), sees no jump, and
    pools blocks cut within each run; the concatenation as one run would see the jump."""
    rng = np.random.default_rng(7)
    x = np.cumsum(rng.normal(scale=0.05, size=(700, 30, 3)), axis=0) + 100.0
    x[400:, :, 0] += 20.0  # the jump at the join
    cell = np.eye(3) * 50.0  # the 20 Å jump stays a 20 Å jump under the minimum image
    a, b = _dataset(x[:400], cell), _dataset(x[400:], cell)
    calc = MSD(System.from_dataset(a), remove_drift=False, fit_stop=0.5)
    res = calc.compute([a, b]).sel(group="Ar")
    ma, mb = _brute_force_msd(x[:400]), _brute_force_msd(x[400:])
    lag = np.arange(700)
    wa, wb = np.clip(400 - lag, 0, None), np.clip(300 - lag, 0, None)
    expected = (wa * np.pad(ma, (0, 300)) + wb * np.pad(mb, (0, 400))) / (wa + wb)[:, None].ravel()
    np.testing.assert_allclose(res["msd"].values[1:400], expected[1:400], rtol=1e-7)  # FFT rounding at ~100 Å
    assert res["msd"].values[1:400].max() < 30  # Å^2; the jump alone would add ~400 x 300/700 at lag 1 .. 399
    whole = calc.compute(_dataset(x, cell)).sel(group="Ar")
    assert whole["msd"].values[350] > 2 * res["msd"].values[350]
    assert res.attrs["n_frames"] == 700 and res.attrs["n_runs"] == 2
    # blocks as long as the shortest run's (300 // 5 = 60 frames): 6 in the first run, 5 in the second
    used = res["error_blocks"].values
    assert (used[:60] == 11).all() and (used[60:100] == 4 + 3).all() and (used[150:] == 0).all()
    with pytest.raises(InputError, match="time step 0.02 ps, but 0.01 ps in the first run"):
        calc.compute([a, _dataset(x[400:], cell, dt=0.02)])


def ornstein_uhlenbeck(seed=5, n_atoms=1000, dt=0.02, n_frames=1001, tau=0.1, sigma=1.0, box=30.0):
    """Langevin particles: every velocity component an Ornstein-Uhlenbeck process with
    relaxation time tau (ps) and standard deviation sigma = sqrt(kT/m) (Å/ps), sampled every dt;
    positions its running sum times dt, wrapped. MSD = 6 D (t - tau (1 - exp(-t/tau))): ballistic
    for t << tau, 6 D t for t >> tau, D = kT tau / m = sigma^2 tau (exactly, for this discrete
    process: sigma^2 dt (1 + a) / (2 (1 - a)), a = exp(-dt/tau))."""
    rng = np.random.default_rng(seed)
    v, a = ou_velocities(rng, n_frames, n_atoms, dt, tau, sigma)
    x = np.cumsum(v, axis=0) * dt + rng.random((n_atoms, 3)) * box
    ds = _dataset(x - np.floor(x / box) * box, np.eye(3) * box, dt)
    return ds, sigma**2 * dt * (1 + a) / (2 * (1 - a)), tau


@pytest.fixture(scope="module")
def langevin_file(tmp_path_factory):
    """A 20 ps Langevin run (1001 frames, 1000 atoms) as an eqt .nc file, its D and tau."""
    ds, d, tau = ornstein_uhlenbeck()
    path = tmp_path_factory.mktemp("langevin") / "langevin.nc"
    with io.open_writer(str(path), "netcdf", float64=True) as writer:
        writer.write(ds)
    return path, d, tau


def _run_msd(path, *args):
    from eqt_cli import msd

    out = Path(path).with_name(f"msd{len(args)}.nc")
    result = CliRunner().invoke(msd.main, [str(path), "-q", "-o", str(out), *map(str, args)])
    assert result.exit_code == 0, result.output
    return xr.open_dataset(out).sel(group="Ar"), result.stderr


def test_default_window_is_diffusive_and_recovers_d_of_langevin_particles(langevin_file):
    path, d_true, tau = langevin_file
    res, stderr = _run_msd(path)
    start, stop = float(res["fit_start"]), float(res["fit_stop"])
    # in the diffusive regime: the exact MSD is a straight line there (to 1e-4 of its value), the
    # ballistic regime (t < tau) long past; the window ends within the lags that all 5 blocks hold
    t = np.linspace(start, stop, 200)
    exact = t - tau * (1 - np.exp(-t / tau))
    assert np.max(np.abs(exact - np.polyval(np.polyfit(t, exact, 1), t)) / exact) < 1e-4
    assert start >= 9 * tau and 2 * start <= stop <= 4.0, (start, stop)
    assert abs(float(res["fit_loglog_slope"]) - 1) < 0.1 and "warning" not in stderr
    assert float(res["D"]) == pytest.approx(d_true, rel=0.05)
    assert int(res["D_blocks"]) == 5 and 0 < float(res["D_err"]) < 0.03 * d_true
    assert abs(float(res["D"]) - d_true) < 4 * float(res["D_err"])


def test_eqt_msd_takes_parallel_runs(langevin_file, tmp_path):
    """The Langevin run cut in two and given as two runs (a glob): D agrees with the whole run's
    within errors, from 10 blocks; a run of other atoms is refused (exit 2, nothing written)."""
    from eqt_cli import convert, msd

    path, d_true, _ = langevin_file
    for name, selection in (("part1.nc", ["--stop", 500]), ("part2.nc", ["--start", 500])):
        assert CliRunner().invoke(convert.main, [str(path), str(tmp_path / name), *map(str, selection),
                                                 "-q"]).exit_code == 0
    both = CliRunner().invoke(msd.main, [str(tmp_path / "part?.nc"), "-q", "-o", str(tmp_path / "both.nc"),
                                         "--fit-start", "0.5", "--fit-stop", "1.9"])
    assert both.exit_code == 0, both.output
    res = xr.open_dataset(tmp_path / "both.nc").sel(group="Ar")
    whole, _ = _run_msd(path, "--fit-start", 0.5, "--fit-stop", 1.9)  # blocks of 100 frames (2 ps) hold it
    assert res.attrs["n_runs"] == 2 and res.attrs["n_frames"] == 1001 and int(res["D_blocks"]) == 10
    assert abs(float(res["D"]) - float(whole["D"])) < 3 * float(res["D_err"])
    assert abs(float(res["D"]) - d_true) < 4 * float(res["D_err"])
    other = tmp_path / "other.xyz"
    other.write_text('1\nLattice="9 0 0 0 9 0 0 0 9" Properties=species:S:1:pos:R:3 Time=0.0\nO 0 0 0\n')
    bad = CliRunner().invoke(msd.main, [str(tmp_path / "part1.nc"), str(other), "-q", "-o", str(tmp_path / "bad.nc")])
    assert bad.exit_code == 2 and "not the atoms of the first run" in bad.stderr and not (tmp_path / "bad.nc").exists()


def test_a_window_beyond_the_blocks_works(langevin_file):
    """2-10 ps on a 20 ps run: D from the whole-run MSD; 2 blocks of 10 ps hold lags up to 9.98 ps
    only, so D has no error bar, and a warning says so. 2-8 ps: errors from 2 blocks."""
    path, d_true, _ = langevin_file
    res, stderr = _run_msd(path, "--fit-start", 2, "--fit-stop", 10)
    assert float(res["D"]) == pytest.approx(d_true, rel=0.15)
    assert np.isnan(float(res["D_err"])) and int(res["D_blocks"]) == 0
    assert "no two blocks hold the fit window of Ar" in stderr and "no error bar" in stderr
    res, stderr = _run_msd(path, "--fit-start", 2, "--fit-stop", 8)
    assert float(res["D"]) == pytest.approx(d_true, rel=0.15)
    assert int(res["D_blocks"]) == 2 and np.isfinite(float(res["D_err"]))
    assert "the error of D_Ar comes from 2 blocks only" in stderr


def test_diffusive_window_skips_the_crossing_into_a_cage():
    """Ballistic (slope 2), a cage (slope 0.3), then diffusion: the brief crossing of slope 1 on
    the way into the cage is not a window; the diffusive tail is."""
    lag = np.arange(4000) * 0.01
    cage = 0.3 * (1 - np.exp(-(lag / 0.2) ** 2))
    curve = cage + 0.6 * lag * (1 - np.exp(-lag / 2.0))  # 6 D t with D = 0.1 once t >> 2 ps
    start, stop = diffusion.diffusive_window(lag, curve, 3999)
    assert lag[start] > 1.0 and lag[stop] == pytest.approx(39.99), (lag[start], lag[stop])
    assert diffusion.diffusive_window(lag, curve, 100) is None  # up to 1 ps: ballistic, crossing, cage
    assert diffusion.diffusive_window(lag, lag**2, 3999) is None


def test_yeh_hummer_correction_value():
    # k_B T xi / (6 pi eta L) for 298 K, 0.89 mPa s, L = 20 Å: 0.1946e-9 m^2/s... by hand:
    kt = 1.380649e-23 * 298.0
    expected = kt * 2.837297 / (6 * np.pi * 0.89e-3 * 20e-10) * 1e8
    got = diffusion.yeh_hummer(0.0, 298.0, 0.89, np.eye(3)[None] * 20.0)
    assert got == pytest.approx(expected, rel=1e-6)
    rng = np.random.default_rng(0)
    ds = _dataset(np.cumsum(rng.normal(scale=0.05, size=(100, 4, 3)), axis=0), np.eye(3) * 20.0)
    res = _msd(ds, fit_stop=0.1, viscosity=0.89, temperature=298.0)
    np.testing.assert_allclose(res["D_yeh_hummer"] - res["D"], expected, rtol=1e-6)
    np.testing.assert_array_equal(res["D_yeh_hummer_err"], res["D_err"])
    with pytest.raises(InputError, match="needs a temperature"):
        _msd(ds, fit_stop=0.1, viscosity=0.89)


def test_bad_requests():
    cell = np.eye(3) * 10
    ds = _dataset(np.zeros((10, 2, 3)), cell)
    with pytest.raises(InputError, match="beyond the trajectory"):
        _msd(ds, n_blocks=2, fit_start=0.01, fit_stop=0.2)
    with pytest.raises(InputError, match="bad fit window 0.2 .. 0.1 ps"):
        _msd(ds, fit_start=0.2, fit_stop=0.1)
    with pytest.raises(InputError, match="blocks"):
        _msd(ds, n_blocks=8)
    with pytest.raises(InputError, match="species Xe not in the trajectory"):
        _msd(ds, groups="Xe")
    repeated = ds.assign_coords(time=("frame", np.r_[0, 0.01, 0.03, np.arange(3, 10) * 0.01]))
    with pytest.raises(InputError, match="does not increase at frame 3"):
        _msd(repeated)
    uneven = ds.assign_coords(time=("frame", np.r_[0, 0.01, 0.03, np.arange(4, 11) * 0.01]))
    with pytest.raises(InputError, match="non-uniform"):
        _msd(uneven)
    with pytest.raises(InputError, match="no time"):
        _msd(ds.drop_vars("time"))


def test_times_stored_in_single_precision_are_a_uniform_step():
    """AMBER NetCDF stores time as float32: frames every 2 fs from 10 ps scatter by a float32 spacing
    (~1e-6 ps, 5e-4 of the step). They are one uniform step, with its mean; a real change of the step
    by 5% in the same precision is still refused, and so is a step off by 2e-6 ps in float64 times."""
    from eqt_analysis import timeseries

    single = (10.0 + np.arange(40) * 0.002).astype(np.float32).astype(float)
    assert np.ptp(np.diff(single)) > 1e-4 * 0.002  # the rounding the old check refused
    assert timeseries.time_step(single) == pytest.approx(0.002, rel=1e-4)
    assert not timeseries.uneven_steps(single).any()
    stretched = np.r_[single[:20], single[19] + 0.0021 * np.arange(1, 21)].astype(np.float32).astype(float)
    with pytest.raises(InputError, match="non-uniform time step .* at frame 20"):
        timeseries.time_step(stretched)
    double = 10.0 + np.arange(40) * 0.002
    double[25:] += 2e-6
    with pytest.raises(InputError, match="non-uniform"):
        timeseries.time_step(double)
    cell = np.eye(3) * 10
    runs = [_dataset(np.zeros((40, 2, 3)), cell).assign_coords(time=("frame", t)) for t in (single, (single + 0.08).astype(np.float32).astype(float))]
    assert timeseries.runs_time_step(runs) == pytest.approx(0.002, rel=1e-4)
