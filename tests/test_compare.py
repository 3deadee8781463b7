"""eqt-compare: known answers (pure noise, a shifted point, two halves of one equilibrium run) and bad input."""
import json
import os

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from click.testing import CliRunner

from cli import compare as compare_cli
from cli import rdf as rdf_cli
from eqt_analysis import compare, results
from eqt_analysis.errors import InputError

TIP3P = os.path.join(os.path.dirname(__file__), "..", "example_data", "water64_tip3p.nc")


def curve(rng, n_points=200, n_blocks=10, shift=None, r=None):
    """A 'curve' result as an analysis makes it: the mean of n_blocks block values per point (each
    N(truth, 1)) and its block standard error, so the errors themselves are noisy (t with n - 1 dof)."""
    r = np.linspace(0.1, 8.0, n_points) if r is None else r
    truth = 1 + np.sin(r)
    blocks = truth + rng.normal(size=(n_blocks, n_points))
    g, err = blocks.mean(0), blocks.std(0, ddof=1) / np.sqrt(n_blocks)
    if shift is not None:
        g[shift[0]] += shift[1]
    ds = xr.Dataset(results.with_error("g", ("r",), g, err, "1", "g(r)"),
                    coords={"r": results.variable(("r",), r, "angstrom", "distance")})
    return results.finish(ds, "rdf", n_blocks=n_blocks)


@pytest.mark.parametrize("n_blocks", [5, 20])
def test_false_alarm_rate_of_pure_noise_is_at_most_nominal(n_blocks):
    rng = np.random.default_rng(n_blocks)
    trials = 600
    alarms = sum(compare.compare(curve(rng, n_blocks=n_blocks), curve(rng, n_blocks=n_blocks)).attrs["differs"]
                 for _ in range(trials))
    nominal = compare.nominal_rate(2.0)
    assert nominal == pytest.approx(0.0455, abs=1e-4)
    # at most nominal (plus 3 binomial standard deviations), and not a uselessly blind test either
    assert alarms / trials <= nominal + 3 * np.sqrt(nominal * (1 - nominal) / trials)
    assert alarms / trials >= 0.01


def test_normal_errors_would_raise_false_alarms_with_few_blocks():
    """What the Student t is for: with 5 blocks, the same scores judged as normal alarm far too often."""
    rng = np.random.default_rng(1)
    alarms = 0
    for _ in range(200):
        a, b = curve(rng, n_blocks=5), curve(rng, n_blocks=5)
        a.attrs.pop("n_blocks"), b.attrs.pop("n_blocks")  # no block count: errors taken as exact (normal)
        alarms += compare.compare(a, b).attrs["differs"]
    assert alarms / 200 > 3 * compare.nominal_rate(2.0)


def lag_curve(rng, n_points=200, n_blocks=8):
    """A curve whose errors come from fewer blocks at long lags, as msd, rotcorr, vdos and tcf
    record them in `error_blocks`: 8 blocks at the first quarter of the points, then 4, 3 and 2."""
    counts = np.repeat([n_blocks, 4, 3, 2], n_points // 4)
    values, errors = np.empty(n_points), np.empty(n_points)
    for k, n in enumerate(counts):
        blocks = rng.normal(size=n)
        values[k], errors[k] = blocks.mean(), blocks.std(ddof=1) / np.sqrt(n)
    lag = np.arange(n_points) * 0.01
    ds = xr.Dataset({**results.with_error("acf", ("lag_time",), values, errors, "1", "acf"),
                     "error_blocks": results.variable(("lag_time",), counts, "1", "blocks")},
                    coords={"lag_time": results.variable(("lag_time",), lag, "picosecond", "lag")})
    return results.finish(ds, "tcf", n_blocks=n_blocks)


def test_errors_from_fewer_blocks_at_long_lags_keep_the_nominal_rate():
    """Student t with error_blocks - 1 degrees of freedom per point (2.5 % alarms); n_blocks - 1 for
    all points alarmed on 85 % of these curves."""
    rng = np.random.default_rng(6)
    trials = 400
    alarms = sum(compare.compare(lag_curve(rng), lag_curve(rng)).attrs["differs"] for _ in range(trials))
    nominal = compare.nominal_rate(2.0)
    assert 0.01 <= alarms / trials <= nominal + 3 * np.sqrt(nominal * (1 - nominal) / trials)


def test_white_noise_series_compared_through_their_autocorrelations():
    """Two independent white-noise series through eqt's TCF (5 blocks; error_blocks down to 2):
    eqt-compare's false alarms stay within the nominal 4.55 % (they were 14-16 % when every lag
    counted n_blocks - 1 degrees of freedom)."""
    from eqt_analysis.spectra import TCF

    rng = np.random.default_rng(7)

    def run():
        series = xr.Dataset({"e": ("frame", rng.normal(size=200), {"units": "electronvolt"})})
        return TCF("e", dt=0.001, n_blocks=5).compute(series)

    trials = 150
    first = run()
    assert set(np.unique(first["error_blocks"].values)) == {0, 2, 3, 5}
    alarms = sum(compare.compare(run(), run()).attrs["differs"] for _ in range(trials))
    nominal = compare.nominal_rate(2.0)
    assert alarms / trials <= nominal + 3 * np.sqrt(nominal * (1 - nominal) / trials)


def test_family_threshold():
    assert compare.family_threshold(2.0, 1) == pytest.approx(2.0)
    assert compare.family_threshold(2.0, 200) == pytest.approx(3.68, abs=0.01)  # Sidak, as the docs say
    assert compare.family_threshold(3.0, 200) > compare.family_threshold(2.0, 200)


def test_a_shifted_point_is_flagged_where_it_was_shifted():
    rng = np.random.default_rng(7)
    a = curve(rng, n_blocks=50)
    b = a.copy(deep=True)
    b["g"][123] += 8 * float(a["g_err"][123])  # 8 sigma_A; combined sigma sqrt(2) sigma_A: z = 5.7
    out = compare.compare(a, b)
    assert out.attrs["differs"] == 1
    assert out.attrs["location"] == f"at r = {float(a['r'][123]):.4g} angstrom"
    assert out.attrs["max_abs_z"] == pytest.approx(compare.stats.norm.isf(compare.stats.t.sf(8 / np.sqrt(2), 98)),
                                                   rel=1e-6)
    assert float(out["g_z"][123]) < 0  # B above A: A - B negative
    assert np.all(np.abs(np.delete(out["g_z"].values, 123)) < 1e-12)  # identical elsewhere
    assert "by 5." in out.attrs["verdict"] and out.attrs["verdict"].startswith("differs: g at r = ")


def test_identical_results_and_exact_points():
    a = curve(np.random.default_rng(3))
    a["g_err"][:10] = 0.0  # exact, equal points are left out
    out = compare.compare(a, a)
    assert out.attrs["differs"] == 0 and out.attrs["n_points"] == 190
    assert out.attrs["max_abs_z"] == 0.0
    b = a.copy(deep=True)
    b["g"][3] += 1e-3  # an exact value that differs is a difference, however small
    assert compare.compare(a, b).attrs["differs"] == 1
    c = a.copy(deep=True)  # ... above the rounding of stored values: a tail of 2e-9 against 0 (g ~ 2) is none
    c["g"][3] += 2e-9
    out = compare.compare(a, c)
    assert out.attrs["differs"] == 0 and out.attrs["n_points"] == 190 and np.isnan(out["g_z"][3])


def test_grids_types_and_variables_must_match():
    rng = np.random.default_rng(0)
    a = curve(rng)
    with pytest.raises(InputError, match="coordinate r differs"):
        compare.compare(a, curve(rng, r=np.linspace(0.1, 6.0, 200)))
    b = curve(rng)
    b["r"].attrs["units"] = "nanometer"
    with pytest.raises(InputError, match="in 'angstrom' in one and 'nanometer'"):
        compare.compare(a, b)
    d = curve(rng)
    d["g"].attrs["units"] = d["g_err"].attrs["units"] = "angstrom^-3"
    with pytest.raises(InputError, match="g is in '1' in one and 'angstrom\\^-3' in the other"):
        compare.compare(a, d)
    c = curve(rng)
    c.attrs["result_type"] = "msd"
    with pytest.raises(InputError, match=r"cannot compare results of two types \(result_type rdf and msd\)"):
        compare.compare(a, c)
    with pytest.raises(InputError, match="no value with a standard error named h"):
        compare.compare(a, curve(rng), variables=["h"])
    e, f = curve(rng), curve(rng)  # two tcfs of different series had given "differs: mean by 8.9 sigma"
    e.attrs.update(result_type="tcf", series="potential_energy")
    f.attrs.update(result_type="tcf", series="kinetic_energy")
    with pytest.raises(InputError, match="tcf results of different series: 'potential_energy' in one and "
                                         "'kinetic_energy' in the other"):
        compare.compare(e, f)


def test_drifts_of_runs_of_different_lengths_compare_once_per_point(tmp_path):
    """The conserved-energy series (no error) has its own time grid: runs of different lengths were refused.
    The drift per molecule re-expresses the drift: one point, the one-point threshold (it counted two)."""
    from cli import angmom as angmom_cli

    run = os.path.join(os.path.dirname(__file__), "..", "example_data", "md", "bulk_plain.nc")
    paths = [str(tmp_path / "a.nc"), str(tmp_path / "b.nc")]
    for path, frames in zip(paths, (["--stop", "100"], ["--start", "100"])):
        res = CliRunner().invoke(angmom_cli.main, [run, "--drift-only", *frames, "-q", "-o", path])
        assert res.exit_code == 0, res.output
    a, b = (results.load(p) for p in paths)
    assert a.sizes["time"] != b.sizes["time"]
    assert a["energy_drift_per_molecule"].attrs[results.SAME_POINTS] == "energy_drift"
    ds = compare.compare(a, b)
    assert ds.attrs["n_points"] == 1 and ds.attrs["threshold_z"] == pytest.approx(2.0)
    assert "time" not in ds.coords
    for name in ("energy_drift", "energy_drift_per_molecule"):
        assert float(ds[name + "_diff"]) == pytest.approx(float(a[name] - b[name]), rel=1e-12)
    assert float(ds["energy_drift_z"]) == pytest.approx(float(ds["energy_drift_per_molecule_z"]), rel=1e-9)
    # asked for alone, the copy is compared as a value of its own
    assert compare.compare(a, b, variables=["energy_drift_per_molecule"]).attrs["n_points"] == 1


@pytest.fixture(scope="module")
def tip3p_halves(tmp_path_factory):
    """O-O/O-H/H-H RDFs of the two halves (2 ps each) of the TIP3P example run, blocks of 0.25 ps."""
    folder = tmp_path_factory.mktemp("halves")
    runner = CliRunner()
    paths = []
    for name, frames in (("first", ["--stop", "200"]), ("second", ["--start", "200"])):
        path = str(folder / f"{name}.rdf.nc")
        res = runner.invoke(rdf_cli.main, [TIP3P, *frames, "--rmax", "6", "--block-frames", "25", "-q", "-o", path])
        assert res.exit_code == 0, res.output
        paths.append(path)
    return paths


def test_a_reference_without_errors_compares_against_the_other_results_errors(tip3p_halves, tmp_path):
    """A g(r) kept as a bare reference (g alone, no errors, no other variables): A - B over B's error alone
    (it had been refused because its other coordinates were gone)."""
    a, b = (results.load(p) for p in tip3p_halves)
    reference = a[["g"]]
    assert set(reference.coords) < set(b.coords)
    ds = compare.compare(reference, b)
    d, s = (a["g"] - b["g"]).values, b["g_err"].values
    with np.errstate(divide="ignore", invalid="ignore"):
        t = d / s
    exact = (s == 0) & (d != 0)  # B exact there, A not: an exact difference (infinite score)
    used = (s > 0) & np.isfinite(t)
    assert ds.attrs["n_points"] == used.sum() + exact.sum()
    np.testing.assert_allclose(ds["g_diff_err"].values[used], b["g_err"].values[used], rtol=1e-12)
    nu = np.asarray(b["g_blocks"] if "g_blocks" in b else b.attrs["n_blocks"], float) - 1
    z = stats.norm.isf(stats.t.sf(np.abs(t), np.broadcast_to(nu, t.shape)))  # Student t with B's blocks, as normal
    np.testing.assert_allclose(np.abs(ds["g_z"].values[used]), z[used], rtol=1e-6)


def test_two_halves_of_an_equilibrium_run_are_indistinguishable(tip3p_halves, tmp_path):
    out = tmp_path / "c.nc"
    res = CliRunner().invoke(compare_cli.main, [*tip3p_halves, "-o", str(out), "--plot", str(tmp_path / "c.png")])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("indistinguishable at 2σ")
    ds = xr.open_dataset(out)
    assert ds.attrs["result_type"] == "comparison" and ds.attrs["compared_type"] == "rdf"
    assert results.schema_problems(ds) == []
    a, b = (xr.open_dataset(p) for p in tip3p_halves)
    np.testing.assert_allclose(ds["g_diff"], a["g"] - b["g"])
    np.testing.assert_allclose(ds["g_diff_err"], np.hypot(a["g_err"], b["g_err"]))
    assert os.path.getsize(tmp_path / "c.png") > 10_000


def test_default_names_hold_both_inputs(tip3p_halves, tmp_path, monkeypatch):
    """Plain against each fix with default names: one result per pair (A's name alone made the second
    comparison refuse to replace the first)."""
    monkeypatch.chdir(tmp_path)
    third = tmp_path / "third.rdf.nc"
    third.write_bytes(open(tip3p_halves[1], "rb").read())
    for other in (tip3p_halves[1], str(third)):
        res = CliRunner().invoke(compare_cli.main, [tip3p_halves[0], other, "-q"])
        assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.glob("*.compare.nc")) == ["first.rdf.vs.second.rdf.compare.nc",
                                                                     "first.rdf.vs.third.rdf.compare.nc"]


def test_cli_flags_a_real_curve_shifted_at_one_point(tip3p_halves, tmp_path):
    a = xr.open_dataset(tip3p_halves[0]).load()
    i = int(np.argmax(a["g"].sel(pair="O-O").values))  # the first peak
    b = xr.open_dataset(tip3p_halves[1])
    sigma = float(np.hypot(a["g_err"].sel(pair="O-O")[i], b["g_err"].sel(pair="O-O")[i]))
    a["g"].loc[{"pair": "O-O"}] = a["g"].sel(pair="O-O").values + np.eye(a.sizes["r"])[i] * 10 * sigma
    shifted = tmp_path / "shifted.nc"
    a.to_netcdf(shifted)
    res = CliRunner().invoke(compare_cli.main, [str(shifted), tip3p_halves[1], "--var", "g", "--json",
                                                "-o", str(tmp_path / "c.nc")])
    assert res.exit_code == 0, res.output
    verdict = json.loads(res.stdout)
    assert verdict["differs"] is True and verdict["worst_variable"] == "g"
    assert verdict["location"] == f"at pair = O-O, r = {float(a['r'][i]):.4g} angstrom"
    assert verdict["variables"] == ["g"]


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("text", "not a readable NetCDF file"),
    ("trajectory", "not an eqt analysis result"),
    ("other grid", "coordinate r differs"),
    ("bad var", "no value with a standard error named"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(tip3p_halves, tmp_path, case, message):
    runner = CliRunner()
    a, b = tip3p_halves
    extra = []
    if case == "missing":
        b = str(tmp_path / "nope.nc")
    elif case == "text":
        b = str(tmp_path / "t.nc")
        open(b, "w").write("hello\n")
    elif case == "trajectory":
        b = TIP3P
    elif case == "other grid":
        b = str(tmp_path / "other.nc")
        assert runner.invoke(rdf_cli.main, [TIP3P, "--stop", "50", "--rmax", "5", "-q", "-o", b]).exit_code == 0
    else:
        extra = ["--var", "nope"]
    out = tmp_path / "out.nc"
    res = runner.invoke(compare_cli.main, [a, b, *extra, "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()
