"""Spectra, rotational correlations and conservation laws against analytic answers."""
import warnings

import numpy as np
import pytest
import xarray as xr

from eqt_analysis import conservation, results, timeseries, trajectory, units
from eqt_analysis.conservation import Conservation
from eqt_analysis.errors import InputError
from eqt_analysis.rotcorr import RotationalCorrelation, legendre_correlations
from eqt_analysis.spectra import TCF
from eqt_analysis.system import System
from eqt_analysis.vibrations import VDOS

DT = 0.002  # ps


def velocity_dataset(v, dt=DT, masses=None):
    """A trajectory of atoms (argon, at the origin) with velocities v (T, n, 3) Å/ps."""
    return trajectory.build(np.zeros_like(v), np.full(v.shape[1], 18), velocities=v, masses=masses,
                            time=np.arange(len(v)) * dt)


def vdos(v, dt=DT, masses=None, **params):
    ds = velocity_dataset(v, dt, masses)
    return VDOS(System.from_dataset(ds), {"all": np.arange(v.shape[1])}, **params).compute(ds).sel(species="all")


def _oscillators(freqs_cm, amplitude=0.05, n_frames=4000, seed=0):
    """Velocities (T, n, 3) of independent harmonic oscillators at the given wavenumbers."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) * DT
    v = np.zeros((n_frames, len(freqs_cm), 3))
    for k, nu in enumerate(freqs_cm):
        omega = 2 * np.pi * nu * units.INV_CM  # rad/ps
        phase = rng.uniform(0, 2 * np.pi, 3)
        v[:, k] = -amplitude * omega * np.sin(omega * t[:, None] + phase)
    return v


def test_vdos_peaks_at_the_oscillator_frequencies_and_obeys_parseval():
    freqs = [500.0, 1600.0, 3400.0]
    res = vdos(_oscillators(freqs), window="hann", n_blocks=4)
    nu, spec = res["frequency"].values, res["vdos"].values
    peaks = [nu[np.argmax(np.where(np.abs(nu - f) < 300, spec, 0))] for f in freqs]
    np.testing.assert_allclose(peaks, freqs, atol=nu[1] - nu[0] + 1e-9)
    # Parseval: the spectrum integrates to the VACF at lag 0 (the window keeps c(0))
    integral = np.trapezoid(spec, nu)
    assert integral == pytest.approx(res["vacf"].values[0], rel=1e-3)
    # per atom <v^2> of an oscillator = A^2 omega^2 / 2 per direction
    omega = 2 * np.pi * np.array(freqs) * units.INV_CM
    assert res["vacf"].values[0] == pytest.approx(np.mean(3 * 0.05**2 * omega**2 / 2), rel=0.01)
    np.testing.assert_allclose(res["frequency_THz"], nu * units.INV_CM, rtol=1e-12)


def test_vdos_groups_default_to_every_species_and_the_total():
    v = _oscillators([500.0, 900.0, 1300.0], n_frames=400)
    ds = trajectory.build(np.zeros_like(v), [8, 1, 1], velocities=v, time=np.arange(400) * DT)
    res = VDOS(System.from_dataset(ds)).compute(ds)
    assert list(res["species"].values) == ["O", "H", "total"]
    assert results.schema_problems(res) == [] and res.attrs["result_type"] == "vdos"
    np.testing.assert_allclose(res["vacf"].sel(species="total"),
                               (res["vacf"].sel(species="O") + 2 * res["vacf"].sel(species="H")) / 3, rtol=1e-12)
    # the total is added up from the species' sums: the same as a pass over every atom, errors included
    direct = VDOS(System.from_dataset(ds), groups={"all": np.arange(3)}).compute(ds)
    for name in ("vacf", "vacf_err", "vdos"):
        expected = direct[name].sel(species="all").values  # equal to FFT rounding
        np.testing.assert_allclose(res[name].sel(species="total"), expected, rtol=0, atol=1e-12 * np.nanmax(np.abs(expected)))
    with pytest.raises(InputError, match="unknown window"):
        VDOS(System.from_dataset(ds), window="bogus")


def test_fwhm_broadening_gives_the_requested_width():
    res = vdos(_oscillators([1000.0], n_frames=20000), window="none", fwhm=40.0, n_blocks=4)
    nu, spec = res["frequency"].values, res["vdos"].values
    above = nu[spec > spec.max() / 2]
    assert above.max() - above.min() == pytest.approx(40.0, abs=2 * (nu[1] - nu[0]))


def test_broadening_wider_than_floats_is_a_flat_spectrum_without_warnings():
    # a width whose Gaussian damping overflows: every lag but 0 damped to zero, S = c(0) dt at every frequency
    acf = np.array([2.0, 1.0, 0.5, 0.25])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nu, s = timeseries.spectrum(acf, 0.01, "none", fwhm=1e308)
    np.testing.assert_allclose(s[1:-1], 2 * 2.0 * 0.01 * units.INV_CM, rtol=1e-12)


def test_series_spectrum_parseval_and_peak():
    t = np.arange(5000) * DT
    x = 3.0 + 0.2 * np.cos(2 * np.pi * 800 * units.INV_CM * t)
    series = xr.Dataset({"E": ("frame", x, {"units": "electronvolt"})}, coords={"time": ("frame", t)})
    res = TCF("E", window="hann").compute(series)
    nu, s = res["frequency"].values, res["spectrum"].values
    assert nu[np.argmax(s)] == pytest.approx(800, abs=nu[1])
    assert np.trapezoid(s, nu) == pytest.approx(float(res["variance"]), rel=2e-3)
    assert res["acf"].values[0] == pytest.approx(0.02, rel=1e-3)  # variance of 0.2 cos
    assert float(res["mean"]) == pytest.approx(3.0, abs=1e-3) and float(res["mean_err"]) < 1e-3
    assert res["acf"].attrs["units"] == "(electronvolt)^2" and results.schema_problems(res) == []
    # the same series without time, given the time step
    same = TCF("E", dt=DT).compute(series.drop_vars("time"))
    np.testing.assert_array_equal(same["acf"], res["acf"])
    with pytest.raises(InputError, match="no per-frame variable 'F'; available: E"):
        TCF("F").compute(series)


def _rotating_waters(omega, n_frames=500, dt=0.01, n=6):
    """n rigid waters spinning about z at omega (rad/ps), dipole axes in the xy plane with
    phases spread over 2 pi, 5 Å apart, as an open-system trajectory."""
    t = np.arange(n_frames) * dt
    phases = np.linspace(0, 2 * np.pi, n + 1)[:-1]
    u = np.stack([np.cos(omega * t[:, None] + phases), np.sin(omega * t[:, None] + phases),
                  np.zeros((n_frames, n))], axis=-1)
    half = np.radians(104.52) / 2
    o = np.zeros((n_frames, n, 3))
    o[..., 0] = 5.0 * np.arange(n)
    z = np.array([0.0, 0.0, 1.0])
    h1 = o + 0.9572 * (np.cos(half) * u + np.sin(half) * z)
    h2 = o + 0.9572 * (np.cos(half) * u - np.sin(half) * z)
    positions = np.stack([o, h1, h2], axis=2).reshape(n_frames, 3 * n, 3)
    return trajectory.build(positions, np.tile([8, 1, 1], n), time=t), u, t


def test_integrated_time_stops_at_the_interpolated_zero():
    """Exact for a piecewise linear curve; the segment past the zero crossing was counted (0.15 % low on the
    example molecule)."""
    from eqt_analysis.timeseries import integrated_time

    assert integrated_time([1, 0.7, 0.4, 0.1, -0.2, -0.5], 1.0) == pytest.approx(10 / 6)  # 1 - 0.3 t: zero at 10/3
    assert integrated_time([1, 0.5, 0.0, -0.5], 2.0) == pytest.approx(2.0)  # zero on a sample
    assert integrated_time([1, 1, 1], 0.5) == pytest.approx(1.0)  # no crossing: to the end
    assert integrated_time([-0.1, 0.5], 1.0) == 0.0


def test_rotational_correlation_of_steady_rotation_is_a_cosine():
    omega = 2.0  # rad/ps about z
    ds, u, t = _rotating_waters(omega)
    c1, c2 = legendre_correlations(u)
    np.testing.assert_allclose(c1, np.cos(omega * t), atol=1e-12)
    np.testing.assert_allclose(c2, 1.5 * np.cos(omega * t) ** 2 - 0.5, atol=1e-12)
    res = RotationalCorrelation(System.from_dataset(ds)).compute(ds)
    np.testing.assert_allclose(res["C"].sel(order=1), np.cos(omega * t), atol=1e-9)
    assert float(res["tau"].sel(order=1)) == pytest.approx(np.sin(np.pi / 2) / omega, rel=1e-3)  # integral to pi/2
    assert res["tau_lower_bound"].values.tolist() == [0, 0] and results.schema_problems(res) == []


def test_undecayed_rotational_correlation_gives_a_lower_bound():
    """A slow spin (a quarter turn takes 7.9 ps) over 5 ps: C1 = cos(omega t) never reaches zero."""
    omega = 0.2
    ds, _, t = _rotating_waters(omega)
    with pytest.warns(trajectory.EqtWarning, match=r"C1 has not decayed: it is still 0.542 at the end of the run"):
        res = RotationalCorrelation(System.from_dataset(ds)).compute(ds).sel(order=1)
    assert int(res["tau_lower_bound"]) == 1
    assert float(res["C_reached"]) == pytest.approx(np.cos(omega * t[-1]), abs=1e-9)
    assert float(res["tau"]) == pytest.approx(np.sin(omega * t[-1]) / omega, rel=1e-3)  # < the true 1 / omega


def _rigid_rotor(alpha, n_frames=200, dt=0.005):
    """A rigid triatomic spinning about its principal axis z with angular acceleration alpha."""
    m = np.array([16.0, 1.0, 1.0])
    body = np.array([[0.0, 0.0, 0.0], [0.9, 0.3, 0.0], [-0.4, 0.8, 0.0]])
    body -= (m[:, None] * body).sum(0) / m.sum()
    t = np.arange(n_frames) * dt
    omega0 = 3.0
    theta = omega0 * t + 0.5 * alpha * t**2
    omega = omega0 + alpha * t
    rot = np.stack([np.stack([np.cos(theta), -np.sin(theta), 0 * t], -1),
                    np.stack([np.sin(theta), np.cos(theta), 0 * t], -1),
                    np.stack([0 * t, 0 * t, 1 + 0 * t], -1)], axis=1)  # (T, 3, 3)
    r = np.einsum("tab,ib->tia", rot, body) + np.array([5.0, -2.0, 1.0])
    rel = r - r[:, :1] + (r[:, :1] - (m[:, None] * r).sum(1, keepdims=True) / m.sum())
    z = np.array([0.0, 0.0, 1.0])
    v = omega[:, None, None] * np.cross(z, rel)
    # forces: tangential m alpha (z x r) plus centripetal -m omega^2 r_perp (net force zero)
    f = m[:, None] * (alpha * np.cross(z, rel) - omega[:, None, None] ** 2 * rel)
    inertia = np.sum(m * (rel[0, :, 0] ** 2 + rel[0, :, 1] ** 2))
    return t, r, v, f, m, inertia, omega


def test_free_rigid_rotor_conserves_angular_momentum_with_zero_torque():
    t, r, v, f, m, inertia, omega = _rigid_rotor(alpha=0.0)
    out = conservation.momenta(r, v, m, f)
    np.testing.assert_allclose(out["L"][:, 2], inertia * 3.0, rtol=1e-12)
    np.testing.assert_allclose(out["L"][:, :2], 0, atol=1e-12)
    np.testing.assert_allclose(out["tau"], 0, atol=1e-12)
    np.testing.assert_allclose(out["P"], 0, atol=1e-12)
    ds = trajectory.build(r, [8, 1, 1], velocities=v, forces=f, masses=m, time=t,
                          frame_data={"conserved_energy": (-5.0 + 0.01 * t, "electronvolt")})
    res = Conservation(System.from_dataset(ds)).compute(ds)
    assert abs(float(res["L_norm_drift"])) < 1e-9 and float(res["mean_abs_torque"]) < 1e-9
    assert res["L"].dims == ("time", "spatial") and list(res["spatial"].values) == ["x", "y", "z"]
    assert float(res["energy_drift"]) == pytest.approx(0.01, rel=1e-9)
    assert float(res["energy_drift_per_molecule"]) == pytest.approx(0.01, rel=1e-9)  # one molecule
    assert results.schema_problems(res) == [] and res.attrs["result_type"] == "angmom"


def test_constant_torque_gives_linear_angular_momentum():
    alpha = 4.0  # rad/ps^2
    t, r, v, f, m, inertia, omega = _rigid_rotor(alpha)
    out = conservation.momenta(r, v, m, f)
    np.testing.assert_allclose(out["L"][:, 2], inertia * omega, rtol=1e-12)
    # sum r x F is unit-agnostic: with F in amu Å/ps^2 here it is I alpha in amu Å^2/ps^2
    np.testing.assert_allclose(out["tau"][:, 2], inertia * alpha, rtol=1e-12)
    np.testing.assert_allclose(np.gradient(out["L"][:, 2], t), out["tau"][:, 2], rtol=1e-6)


def test_energy_drift_of_a_linear_ramp():
    rng = np.random.default_rng(5)
    t = np.arange(2000) * 0.001  # ps
    slope = 0.03  # eV/ps
    e = -100.0 + slope * t + rng.normal(scale=0.001, size=t.size)
    s, err, per_mol, per_mol_err = conservation.energy_drift(t, e, 64)
    assert abs(s - slope) < 4 * err and err < 0.01 * slope
    assert per_mol == pytest.approx(s / 64) and per_mol_err == pytest.approx(err / 64)
    # correlated noise inflates the error honestly
    walk = np.cumsum(rng.normal(scale=0.001, size=t.size))
    _, err_corr = timeseries.drift(t, walk)
    assert err_corr > 3 * np.sqrt(np.var(np.diff(walk)) / np.sum((t - t.mean()) ** 2))


def test_periodic_bulk_is_refused_for_angular_momentum():
    rng = np.random.default_rng(0)
    cell = np.eye(3) * 10.0
    pos = rng.random((3, 30, 3)) * 10.0
    with pytest.raises(InputError, match="periodic system"):
        conservation.isolated_positions(pos, np.repeat(cell[None], 3, 0), np.array([True] * 3),
                                        np.full(30, 18))


def test_summed_autocorrelation_and_msd_against_brute_force_sums():
    """One inverse FFT of the added power spectra equals the sum (or weighted sum) of the columns'
    own autocorrelations over all origins; the summed MSD equals the direct double sum, far from
    the origin too (positions near 1000 Å)."""
    from eqt_analysis import timeseries

    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 5, 3))
    w = rng.random(5)
    lags = np.arange(120)
    direct = np.array([(x[:120 - m] * x[m:]).sum(axis=(1, 2)).mean() for m in lags])
    weighted = np.array([((x[:120 - m] * x[m:]).sum(axis=2) @ w).mean() for m in lags])
    np.testing.assert_allclose(timeseries.summed_autocorrelation(x), direct, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(timeseries.summed_autocorrelation(x, w[:, None]), weighted, rtol=1e-10, atol=1e-12)
    walk = 1000.0 + np.cumsum(rng.normal(scale=0.1, size=(400, 7, 3)), axis=0)
    msd = np.array([((walk[m:] - walk[:400 - m]) ** 2).sum(axis=(1, 2)).mean() for m in range(400)])
    np.testing.assert_allclose(timeseries.msd_fft(walk), msd, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("frames", [2, 10, 600])
def test_msd_of_the_whole_run_from_its_halves(frames):
    """The whole run's MSD from the FFTs of its two halves (plus their cross-correlation) equals
    the direct FFT MSD, and the halves' own curves equal theirs."""
    from eqt_analysis import timeseries

    walk = 50.0 + np.cumsum(np.random.default_rng(frames).normal(scale=0.2, size=(frames, 5, 3)), axis=0)
    whole, halves = timeseries.msd_fft_halves(walk)
    np.testing.assert_allclose(whole, timeseries.msd_fft(walk), rtol=1e-10, atol=1e-12)
    for k, curve in enumerate(halves):
        np.testing.assert_allclose(curve, timeseries.msd_fft(walk[k * frames // 2:(k + 1) * frames // 2]),
                                   rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError):
        timeseries.msd_fft_halves(walk[:-1] if frames > 2 else walk[:1])


def _ar1(rng, shape, a=0.9):
    """AR(1) noise x_t = a x_(t-1) + e_t along axis 0 (correlation time ~ 1/(1 - a) frames), stationary start."""
    e = rng.normal(size=shape)
    x = np.empty(shape)
    x[0] = e[0] / np.sqrt(1 - a * a)
    for t in range(1, shape[0]):
        x[t] = a * x[t - 1] + e[t]
    return x


def test_windowed_spectrum_errors_match_the_scatter_of_independent_runs():
    """--max-lag: the spectrum from the correlation up to max-lag, and its block error, against the spread
    of the same spectrum over 150 independent runs of correlated noise (tcf and vdos)."""
    rng = np.random.default_rng(5)
    n_frames, runs, max_lag = 4000, 150, 40 * DT
    tcf_spec, tcf_err, vdos_spec, vdos_err = [], [], [], []
    for _ in range(runs):
        x = _ar1(rng, (n_frames,))
        series = xr.Dataset({"E": ("frame", x, {"units": "electronvolt"})},
                            coords={"time": ("frame", np.arange(n_frames) * DT)})
        res = TCF("E", n_blocks=10, max_lag=max_lag).compute(series)
        tcf_spec.append(res["spectrum"].values)
        tcf_err.append(res["spectrum_err"].values)
        v = _ar1(rng, (n_frames, 2, 3))
        res_v = vdos(v, n_blocks=10, max_lag=max_lag)
        vdos_spec.append(res_v["vdos"].values)
        vdos_err.append(res_v["vdos_err"].values)
    assert int(res["spectrum_blocks"]) == 10 and res.attrs["max_lag_ps"] == pytest.approx(max_lag)
    assert res.sizes["frequency"] == 41 and res.sizes["lag_time"] == n_frames  # the correlation stays whole
    # the spectrum is the transform of the correlation's first 41 lags, windowed over them
    np.testing.assert_allclose(res["spectrum"], timeseries.spectrum(res["acf"].values[:41], DT)[1], rtol=1e-12)
    np.testing.assert_allclose(res_v["vdos"], timeseries.spectrum(res_v["vacf"].values[:41], DT)[1], rtol=1e-12)
    for spectra, errors in ((tcf_spec, tcf_err), (vdos_spec, vdos_err)):
        scatter = np.std(spectra, axis=0, ddof=1)
        ratio = np.mean(errors, axis=0)[1:-1] / scatter[1:-1]  # every frequency but the two edges
        assert 0.8 < np.median(ratio) < 1.2, np.median(ratio)
        assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio


def test_max_lag_needs_blocks_longer_than_it():
    x = np.random.default_rng(0).normal(size=1000)
    series = xr.Dataset({"E": ("frame", x, {"units": "electronvolt"})},
                        coords={"time": ("frame", np.arange(1000) * DT)})
    with pytest.raises(InputError, match="needs blocks longer than it: at most 0.998 ps"):
        TCF("E", n_blocks=5, max_lag=1.5).compute(series)  # the longest blocks: two of 500 frames
    with pytest.raises(InputError, match="under 4 time steps"):
        TCF("E", max_lag=0.005).compute(series)
    assert int(TCF("E", n_blocks=5, max_lag=0.9).compute(series)["spectrum_blocks"]) == 2
