"""eqt-msd, eqt-rotcorr, eqt-vdos, eqt-tcf, eqt-angmom from the command line, and bad input."""
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from eqt_analysis import results
from eqt_cli import angmom, msd, rotcorr, tcf, vdos

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data" / "water64_tip3p.nc"


def run(cmd, args):
    return CliRunner().invoke(cmd.main, [str(a) for a in args])


@pytest.mark.parametrize("cmd, extra, names", [
    (msd, ["--species", "O", "--com", "--fit-stop", "0.5"], {"msd", "msd_err", "D", "D_err", "fit_start", "group"}),
    (rotcorr, [], {"C", "C_err", "tau", "tau_lower_bound", "C_reached", "order"}),
    (vdos, ["--mass-weighted"], {"vacf", "vacf_err", "vdos", "species", "frequency_THz"}),
    (tcf, ["-v", "potential_energy"], {"acf", "acf_err", "spectrum", "mean", "mean_err", "variance"}),
    (angmom, ["--drift-only"], {"conserved_energy", "energy_drift", "energy_drift_err",
                                "energy_drift_per_molecule", "energy_drift_per_molecule_err"}),
])
def test_commands_write_their_results(tmp_path, cmd, extra, names):
    out = tmp_path / "res.nc"
    result = run(cmd, [EXAMPLE, *extra, "-q", "-o", out, "--plot", tmp_path / "p.png", "--dat", tmp_path / "t.dat"])
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(out)
    assert names <= set(ds.variables)
    assert results.schema_problems(ds) == [] and ds.attrs["result_type"] == cmd.__name__.split(".")[-1]
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    table = np.loadtxt(tmp_path / "t.dat")
    assert table.ndim == 2
    header = [line for line in (tmp_path / "t.dat").read_text().splitlines() if line.startswith("#")][-1]
    x = header.split()[1].split("[")[0]  # the x values are the first column (gnuplot, xmgrace)
    assert x in ("lag_time", "time", "frequency") and np.all(np.diff(table[:, 0]) > 0), header
    if "msd" in names:  # exactly 0 at lag 0, as defined (it was -1e-15 of FFT rounding, with an error)
        assert np.all(ds["msd"].isel(lag_time=0).values == 0) and np.all(ds["msd_err"].isel(lag_time=0).values == 0)
    assert "%|" not in result.stderr  # -q: no progress bar


@pytest.mark.parametrize("cmd, extra, name", [
    (msd, ["--species", "O", "--fit-stop", "0.3"], "msd"),
    (rotcorr, [], "C"),
    (vdos, ["--species", "H"], "vacf"),
])
def test_runs_together_weigh_every_time_origin(tmp_path, cmd, extra, name):
    """Two runs (160 and 240 frames of the example): the curve is the average of the runs'
    own curves weighted by their time origins (T_run - lag; only the longer run beyond 160
    frames); the errors pool 5 + 7 blocks of 32 frames (160 // 5)."""
    from eqt_cli import convert

    for part, selection in (("a.nc", ["--stop", 160]), ("b.nc", ["--start", 160, "--stop", 400])):
        assert run(convert, [EXAMPLE, tmp_path / part, *selection, "-q"]).exit_code == 0
    curves = []
    for args, out in (([tmp_path / "a.nc"], "ra.nc"), ([tmp_path / "b.nc"], "rb.nc"),
                      ([tmp_path / "a.nc", tmp_path / "b.nc"], "both.nc")):
        result = run(cmd, [*args, *extra, "-q", "-o", tmp_path / out])
        assert result.exit_code == 0, result.output
        curves.append(xr.open_dataset(tmp_path / out))
    a, b, both = curves
    lag = np.arange(240)
    wa, wb = np.clip(160 - lag, 0, None), 240 - lag
    ca = np.pad(a[name].values, [(0, 0)] * (a[name].ndim - 1) + [(0, 80)])
    expected = (wa * ca + wb * b[name].values) / (wa + wb)
    np.testing.assert_allclose(both[name].values, expected, rtol=1e-10, atol=1e-12)
    assert both.attrs["n_runs"] == 2 and both.attrs["n_frames"] == 400 and both.sizes["lag_time"] == 240
    used = both["error_blocks"].values
    assert (used[:32] == 12).all() and (used[80:] == 0).all()
    assert run(convert, [EXAMPLE, tmp_path / "slow.nc", "--start", 160, "--stride", 2, "-q"]).exit_code == 0
    refused = run(cmd, [tmp_path / "a.nc", tmp_path / "slow.nc", *extra, "-q", "-o", tmp_path / "no.nc"])
    assert refused.exit_code == 2 and f"{tmp_path / 'slow.nc'}: time step 0.02 ps, but 0.01 ps" in refused.stderr


def test_tcf_of_runs_subtracts_one_mean_and_never_correlates_across_the_join(tmp_path):
    """eqt-tcf on two runs (160 and 240 frames): the series minus its mean over both runs,
    correlated over the origins of each run (brute force here), weighted by origins."""
    from eqt_cli import convert

    for part, selection in (("a.nc", ["--stop", 160]), ("b.nc", ["--start", 160, "--stop", 400])):
        assert run(convert, [EXAMPLE, tmp_path / part, *selection, "-q"]).exit_code == 0
    result = run(tcf, [tmp_path / "a.nc", tmp_path / "b.nc", "-v", "potential_energy", "-q", "-o", tmp_path / "t.nc"])
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(tmp_path / "t.nc")
    x = [xr.open_dataset(tmp_path / part)["potential_energy"].values.astype(float) for part in ("a.nc", "b.nc")]
    mean = np.concatenate(x).mean()
    total, origins = np.zeros(240), np.zeros(240)
    for series in x:
        d = series - mean
        for lag in range(len(d)):
            total[lag] += np.sum(d[:len(d) - lag] * d[lag:])
            origins[lag] += len(d) - lag
    np.testing.assert_allclose(ds["acf"].values, total / origins, rtol=1e-8, atol=1e-12)
    assert float(ds["mean"]) == pytest.approx(mean, rel=1e-12) and ds.attrs["n_runs"] == 2
    assert int(ds["error_blocks"].values[0]) == 12  # 5 + 7 blocks of 32 frames


def test_msd_result_has_dimensions_and_errors_wherever_it_is_reported(tmp_path):
    out = tmp_path / "m.nc"
    result = run(msd, [EXAMPLE, "--com", "--fit-start", "0.2", "--fit-stop", "0.6", "--viscosity", "0.32", "-o", out])
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(out)
    assert list(ds["group"].values) == ["O", "H", "com"] and ds["msd"].dims == ("group", "lag_time")
    reported = ds["error_blocks"].values > 0  # lags up to half the run (2 blocks of 2 ps)
    assert reported[:200].all() and not reported[200:].any()
    assert np.isfinite(ds["msd_err"].values[:, 1:200]).all()
    assert (ds["D_yeh_hummer"] > ds["D"]).all() and "D(com) = 2.602 +- 0.28; Yeh-Hummer" in result.stderr
    assert "msd of com is not linear in the fit window 0.2 .. 0.6 ps (log-log slope 0.70" in result.stderr


def test_tcf_selects_frames(tmp_path):
    whole, part = tmp_path / "w.nc", tmp_path / "p.nc"
    assert run(tcf, [EXAMPLE, "-v", "potential_energy", "-o", whole]).exit_code == 0
    result = run(tcf, [EXAMPLE, "-v", "potential_energy", "--skip", "10", "--start", "5", "--stop", "305",
                       "--stride", "2", "-o", part])
    assert result.exit_code == 0, result.output
    a, b = xr.open_dataset(whole), xr.open_dataset(part)
    assert b.sizes["lag_time"] == 150 and float(b["lag_time"][1]) == pytest.approx(0.02)
    assert float(b["mean"]) != float(a["mean"])


def test_tcf_dt_must_agree_with_the_input_s_own_time(tmp_path):
    """--dt 0.5 on a file sampled every 0.01 ps had replaced its time axis (lags 50x off)."""
    result = run(tcf, [EXAMPLE, "-v", "potential_energy", "--dt", "0.5", "-o", tmp_path / "a.nc"])
    assert result.exit_code == 2 and "own time step is 0.01 ps" in result.output
    assert not (tmp_path / "a.nc").exists()
    result = run(tcf, [EXAMPLE, "-v", "potential_energy", "--stride", "2", "--dt", "0.02", "-o", tmp_path / "b.nc"])
    assert result.exit_code == 0, result.output  # the same step as the file's, for the selected frames
    assert xr.open_dataset(tmp_path / "b.nc").attrs["time_step_ps"] == pytest.approx(0.02)


@pytest.mark.parametrize("fmt", ["netcdf", "ipi-properties"])
def test_tcf_reads_standard_input(tmp_path, fmt):
    """eqt-tcf refused '-' ("no such file"), unlike the other analyses."""
    source = EXAMPLE if fmt == "netcdf" else tmp_path / "sim.out"
    if fmt != "netcdf":
        energies = xr.open_dataset(EXAMPLE)["potential_energy"].values / 27.211386245988  # hartree, as i-PI writes
        source.write_text("# column   1     --> time{picosecond} : The elapsed simulation time.\n"
                          "# column   2     --> potential{atomic_unit} : The physical system potential energy.\n"
                          + "".join(f"{0.01 * k:.6f} {e:.12e}\n" for k, e in enumerate(energies)))
    name = "potential_energy"  # i-PI's "potential", in eqt naming
    a, b = tmp_path / "file.nc", tmp_path / "stdin.nc"
    assert run(tcf, [source, "-v", name, "-o", a]).exit_code == 0
    result = CliRunner().invoke(tcf.main, ["-", "-f", fmt, "-v", name, "-o", str(b)], input=source.read_bytes())
    assert result.exit_code == 0, result.output
    xr.testing.assert_allclose(xr.load_dataset(a).drop_attrs(), xr.load_dataset(b).drop_attrs())
    assert xr.load_dataset(b).attrs["inputs"] == "-"


def test_mass_weighted_vdos_integrates_to_equipartition(tmp_path):
    """Rigid TIP3P at ~300 K: <m v^2> per atom is close to 3 kT minus the constrained share."""
    out = tmp_path / "v.nc"
    assert run(vdos, [EXAMPLE, "--mass-weighted", "-o", out]).exit_code == 0
    ds = xr.open_dataset(out)
    kt = 8.617333262e-5 * 299.5
    total = float(ds["vacf"].sel(species="total")[0])  # eV per atom = 2 <E_kin> per atom
    assert total == pytest.approx(2 * kt * 381 / 2 / 192, rel=0.05)  # 381 degrees of freedom, 192 atoms
    integral = np.trapezoid(ds["vdos"].sel(species="total").values, ds["frequency"].values)
    assert integral == pytest.approx(total, rel=1e-3)


def _uneven(tmp_path):
    import ase.io
    from ase import Atoms

    frames = []
    for k, t in enumerate([0.0, 0.01, 0.03, 0.04, 0.05, 0.06]):
        a = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], cell=[10, 10, 10], pbc=True)
        a.info["time"] = t
        a.info["time_units"] = "ps"
        frames.append(a)
    ase.io.write(tmp_path / "uneven.xyz", frames)
    return tmp_path / "uneven.xyz"


@pytest.mark.parametrize("cmd, args, message", [
    (msd, ["{uneven}"], "non-uniform"),
    (msd, ["{ex}", "--fit-stop", "5"], "beyond the trajectory (3.99 ps)"),
    (msd, ["{ex}", "--stop", "6", "--blocks", "5"], "blocks"),
    (angmom, ["{ex}"], "periodic system"),
    (angmom, ["{uneven}"], "no velocities"),
    (tcf, ["{ex}", "-v", "nonexistent"], "no per-frame variable"),
    (tcf, ["{ex}", "-v", "potential_energy", "--skip", "10", "--start", "390"], "after --skip 10: no frames selected"),
    (vdos, ["{ex}", "--species", "Xe"], "species"),
    (rotcorr, ["{missing}"], "no such file"),
])
def test_bad_input_exits_2_and_leaves_nothing(tmp_path, cmd, args, message):
    paths = {"uneven": _uneven(tmp_path), "ex": EXAMPLE, "missing": tmp_path / "no.nc"}
    out = tmp_path / "out"
    out.mkdir()
    result = run(cmd, [a.format(**paths) for a in args] + ["-o", out / "r.nc"])
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert os.listdir(out) == []
