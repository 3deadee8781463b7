"""Two-sided calibration of every error bar eqt reports.

Each test draws many statistically independent synthetic realisations whose exact answer is
known (AR(1) series with a known mean, an ideal gas with g = 1, Brownian walkers with a known
D, unit vectors turned by isotropic random rotations with a known C1 and C2, Ornstein-Uhlenbeck
velocities, a linear drift under white or correlated noise), computes z = (estimate - truth)
/ error for each, and requires the RMS of z about the truth (the standard deviation of the
z-scores about zero, so a bias counts too) to lie between Z_LOW = 0.7 and Z_HIGH = 1.4. Error
bars that are too small fail the upper bound, error bars that are too large (a missing
1/sqrt(n_blocks), ...) the lower one.

Expected values and the chance of a false failure. With B blocks a calibrated block error
gives z ~ Student t with B - 1 degrees of freedom: E[z^2] = (B - 1)/(B - 3), an RMS of 1.054
for the B = 20 used throughout, with a kurtosis of 3 + 6/(B - 5) = 3.4, so for n independent z
the sample RMS scatters by about RMS sqrt((kurtosis - 1) / (4 n)) (more where the block values
are skewed). Measured over 20 other seeds (RMS mean +- standard deviation, n z-scores, distance
of the nearer bound in standard deviations):

    Blocks, AR(1) mean, n = 400          1.055 +- 0.030   11 sd
    Blocks, 2 / 3 blocks (variance ratio) 0.990 +- 0.031 / 0.995 +- 0.022 in [0.8, 1.25]: 6.1 / 8.9 sd
    RDF histogram, n = 1400              1.056 +- 0.021   16 sd
    RDF kernel, n = 240                  1.059 +- 0.067   5.1 sd
    orientation coarse cells, n = 1280   1.064 +- 0.024   14 sd
    orientation kernel, n = 240          1.051 +- 0.057   6.2 sd
    MSD(t), n = 200                      1.028 +- 0.054   6.1 sd
    D, n = 200                           0.999 +- 0.053   5.6 sd
    C1(t) / C2(t), n = 200               1.003 +- 0.052 / 0.996 +- 0.059   5.8 / 5.0 sd
    series c(t), n = 500                 1.095 +- 0.041   7.4 sd
    VACF, n = 200                        1.069 +- 0.053   6.2 sd
    drift, white / AR(1) noise, n = 200  0.969 +- 0.042 / 1.008 +- 0.044   6.4 / 7.0 sd

The nearer bound is at least 5.0 sd away (4.3 sd allowing for the uncertainty of a standard
deviation from 20 seeds), so a correct implementation fails a given check for an arbitrary
seed with a chance below 1e-5 (normal approximation), below 2e-4 for all 18 checks together.
Every test is seeded, so the suite itself is deterministic; the seeds of the tests (100..900)
are not among the 20 (0..19) used for the table.

Every realisation contributes one z per estimated quantity (one lag, one bin, ... chosen in
turn), so the z-scores entering one check are independent, except where stated.
"""
import numpy as np
import pytest

import xarray as xr

from eqt_analysis import orient, rdf, trajectory
from eqt_analysis.blocks import Blocks
from eqt_analysis.diffusion import MSD
from eqt_analysis.rotcorr import RotationalCorrelation
from eqt_analysis.spectra import TCF
from eqt_analysis.system import System
from eqt_analysis.vibrations import VDOS

Z_LOW, Z_HIGH = 0.7, 1.4


@pytest.fixture
def one_numba_thread():
    """These tests make thousands of tiny Numba calls, whose parallel start-up would dominate
    on a busy machine; results do not depend on the thread count."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def _rms(z):
    z = np.asarray(z, dtype=float).ravel()
    assert np.all(np.isfinite(z)), "non-finite z-scores (an error bar of zero?)"
    return float(np.sqrt(np.mean(z**2)))


def _check(z, what):
    rms = _rms(z)
    assert Z_LOW < rms < Z_HIGH, (f"{what}: RMS z-score {rms:.3f} over {np.size(z)} realisations is outside "
                                  f"[{Z_LOW}, {Z_HIGH}] (error bars {'too small' if rms > 1 else 'too large'} "
                                  f"by about {rms if rms > 1 else 1 / rms:.2f}x)")


def _ar1(rng, shape, phi):
    """Stationary AR(1) series (frames first) with unit variance and correlation phi^lag."""
    x = np.empty(shape)
    x[0] = rng.normal(size=shape[1:])
    noise = rng.normal(scale=np.sqrt(1 - phi * phi), size=shape)
    for t in range(1, shape[0]):
        x[t] = phi * x[t - 1] + noise[t]
    return x


# ------------------------------------------------------------------------------ Blocks
def block_mean_z(seed, n_real=400, n_frames=2000, block=100, phi=0.5):
    """z of the block mean of AR(1) series (true mean 0), all realisations at once: Blocks
    accumulates arrays, each element an independent series. 20 blocks of 100 frames, the
    integrated correlation time (1 + phi)/(1 - phi) = 3 frames."""
    rng = np.random.default_rng(seed)
    x = _ar1(rng, (n_frames, n_real), phi)
    blocks = Blocks(block)
    blocks.add_frames({"x": x, "n": np.ones_like(x)})
    value, err = blocks.estimate(lambda s: {"mean": s["x"] / s["n"]})
    return value["mean"] / err["mean"]


def block_variance_ratio(seed, n_blocks, n_real=4000, block=100, phi=0.5):
    """mean(error^2) / variance of the estimate over realisations, with only n_blocks blocks
    (where the z-scores are too heavy-tailed for an RMS): 1 when calibrated."""
    rng = np.random.default_rng(seed)
    x = _ar1(rng, (n_blocks * block, n_real), phi)
    blocks = Blocks(block)
    blocks.add_frames({"x": x, "n": np.ones_like(x)})
    value, err = blocks.estimate(lambda s: {"mean": s["x"] / s["n"]})
    return float(np.mean(err["mean"] ** 2) / np.mean(value["mean"] ** 2))  # true mean 0


def test_block_errors_are_calibrated():
    # n = 400; see the module doc for the expected RMS and the chance of a false failure
    _check(block_mean_z(seed=100), "Blocks: mean of AR(1) series, 20 blocks")


@pytest.mark.parametrize("n_blocks", [2, 3])
def test_block_errors_are_calibrated_with_few_blocks(n_blocks):
    """With 2 or 3 blocks the variance ratio still must be 1: it tells 1/sqrt(n) from
    1/sqrt(n - 1) (a factor 2 or 1.5 in variance). 4000 realisations: the ratio has a relative
    standard deviation of about sqrt(2/4000 + 2/(4000 (n-1))) = 3.2 % for n = 2."""
    ratio = block_variance_ratio(seed=200 + n_blocks, n_blocks=n_blocks)
    assert 0.8 < ratio < 1.25, f"{n_blocks} blocks: mean squared error / variance of the mean = {ratio:.3f}"


# ------------------------------------------------------------------------------ RDF
IDEAL_CELL = np.array([[12.0, 0.0, 0.0], [3.0, 12.0, 0.0], [-2.0, 2.5, 12.0]])  # triclinic, widths >= 11.39 Å


def rdf_z(seed, n_real=40, n_atoms=64, n_frames=20):
    """z of g(r) of an ideal gas (uniform points in a triclinic cell): histogram g = 1, and
    Gaussian-kernel g = 1 + h^2 / r^2 (the kernel smooths the 4 pi r^2 shell), with one frame
    per block (20 blocks). One z per realisation and estimator per bin (histogram: 35 bins of
    0.1 Å on 2.0..5.5 Å; kernel: 6 grid points 0.5 Å = 5 h apart): bins are independent up to
    the shared atoms (weak)."""
    rng = np.random.default_rng(seed)
    cells = np.broadcast_to(IDEAL_CELL, (n_frames, 3, 3))
    numbers = np.full(n_atoms, 18)
    z_hist, z_kernel = [], []
    h = 0.1
    for _ in range(n_real):
        pos = rng.random((n_frames, n_atoms, 3)) @ IDEAL_CELL
        system = System(numbers, pos[0], IDEAL_CELL, [True] * 3, molecule=np.arange(n_atoms))
        hist = rdf.RDF(system, r_max=5.5, bins=55, block_frames=1)
        hist.add_frames(pos, cells)
        res = hist.result()
        keep = res["r"].values > 2.0
        z_hist.append((res["g"].values[0, keep] - 1.0) / res["g_err"].values[0, keep])
        kernel = rdf.RDF(system, r_max=5.0, bins=50, bandwidth=h, block_frames=1)
        kernel.add_frames(pos, cells)
        res = kernel.result()
        r = res["r"].values
        pick = np.arange(20, 50, 5)  # r = 2.05, 2.55, ..., 4.55 Å
        truth = 1.0 + h**2 / r[pick] ** 2
        z_kernel.append((res["g"].values[0, pick] - truth) / res["g_err"].values[0, pick])
    return np.concatenate(z_hist), np.concatenate(z_kernel)


@pytest.mark.usefixtures("one_numba_thread")
def test_rdf_errors_are_calibrated_on_an_ideal_gas():
    z_hist, z_kernel = rdf_z(seed=300)
    _check(z_hist, "RDF histogram, ideal gas")
    _check(z_kernel, "RDF Gaussian kernel, ideal gas")


# ------------------------------------------------------------------------------ orientation
R_OH, HOH = 0.9572, np.radians(104.52)


def _waters(rng, axes, spacing=4.0):
    """Positions (3 n, 3) of rigid waters [O, H, H] on a line whose dipole axes are `axes`."""
    n = len(axes)
    side = np.cross(axes, rng.normal(size=(n, 3)))
    side /= np.linalg.norm(side, axis=1, keepdims=True)
    o = np.zeros((n, 3))
    o[:, 0] = np.arange(n) * spacing
    half = HOH / 2
    h1 = o + R_OH * (np.cos(half) * axes + np.sin(half) * side)
    h2 = o + R_OH * (np.cos(half) * axes - np.sin(half) * side)
    return np.stack([o, h1, h2], axis=1).reshape(-1, 3)


def _unit(rng, shape):
    u = rng.normal(size=shape + (3,))
    return u / np.linalg.norm(u, axis=-1, keepdims=True)


def orientation_z(seed, n_real=40, n_waters=64, n_frames=20):
    """z of P (kernel grid) and P_coarse (4 x 8 equal-area cells) for isotropic dipole axes
    (truth: 1 everywhere: one reflection per wall and one periodic image per side keep a uniform
    density uniform), one frame per block (20 blocks). Per realisation: the 32 coarse cells
    (independent up to the fixed total, a 1/32 anticorrelation) and 6 kernel grid points (cos θ
    = -0.95, -0.05, 0.85; φ = -2.2, 0.9), 3 bandwidths apart (kernel overlap exp(-9/4) = 0.1)."""
    rng = np.random.default_rng(seed)
    rng0 = np.random.default_rng(0)  # the first frame's waters (only their indices matter)
    z_coarse, z_kernel = [], []
    for _ in range(n_real):
        system = System(np.tile([8, 1, 1], n_waters), _waters(np.random.default_rng(1), _unit(rng0, (n_waters,))))
        calc = orient.Orientation(system, n_cos=20, n_phi=20, bandwidth=0.3, block_frames=1)
        for _ in range(n_frames):
            calc.add(_waters(rng, _unit(rng, (n_waters,))))
        res = calc.result()
        z_coarse.append(((res["P_coarse"].values - 1.0) / res["P_coarse_err"].values).ravel())
        p, e = res["P"].values, res["P_err"].values
        cells = (np.array([0, 9, 18, 0, 9, 18]), np.array([3, 3, 3, 13, 13, 13]))
        z_kernel.append((p[cells] - 1.0) / e[cells])
    return np.concatenate(z_coarse), np.concatenate(z_kernel)


def test_orientation_errors_are_calibrated_for_isotropic_axes():
    z_coarse, z_kernel = orientation_z(seed=400)
    _check(z_coarse, "orientation P_coarse, isotropic axes")
    _check(z_kernel, "orientation kernel P, isotropic axes")


# ------------------------------------------------------------------------------ MSD and D
WALKER_MASSES = np.tile([1.0, 1.0, 1.0, 40.0], 4)  # amu: the removed centre of mass follows the heavy ones


def msd_z(seed, n_real=200, n_frames=1000, dt=0.01, d_true=0.2, n_blocks=20):
    """z of MSD(t) and D for Brownian walkers (every atom D = 0.2 Å^2/ps, Gaussian steps)
    wrapped in a 20 Å box, with the default centre-of-mass drift removal. Removing the
    mass-weighted centre R = sum m_i r_i / M of n walkers leaves, averaged over the atoms,
    MSD = 6 D t (1 - 2/n + sum m_i^2 / M^2) (= 1.092 x 6 D t for these 16 masses; 0.9375 if the
    centre were not mass-weighted). 20 blocks of
    50 frames; the fit window 0.01..0.05 ps lies well inside a block (block MSDs then have
    almost as many time origins as the whole trajectory). One MSD lag per realisation."""
    rng = np.random.default_rng(seed)
    m = WALKER_MASSES
    factor = 1 - 2 / len(m) + np.sum(m**2) / np.sum(m) ** 2
    cell = np.eye(3) * 20.0
    lags = [1, 2, 3, 5]
    z_msd, z_d = [], []
    for k in range(n_real):
        steps = rng.normal(scale=np.sqrt(2 * d_true * dt), size=(n_frames, len(m), 3))
        walk = np.cumsum(steps, axis=0) + rng.random(3) * 20.0
        wrapped = walk - np.floor(walk / 20.0) * 20.0
        ds = trajectory.build(wrapped, np.tile([1, 1, 1, 18], 4), cell=np.broadcast_to(cell, (n_frames, 3, 3)), masses=m,
                              time=np.arange(n_frames) * dt)
        res = MSD(System.from_dataset(ds), {"a": np.arange(len(m))}, n_blocks=n_blocks, fit_start=0.01,
                  fit_stop=0.05).compute(ds).sel(group="a")
        lag = lags[k % len(lags)]
        t = res["lag_time"].values[lag]
        z_msd.append((res["msd"].values[lag] - 6 * d_true * factor * t) / res["msd_err"].values[lag])
        z_d.append((float(res["D"]) - d_true * factor) / float(res["D_err"]))
    return np.array(z_msd), np.array(z_d)


@pytest.mark.usefixtures("one_numba_thread")
def test_msd_and_diffusion_errors_are_calibrated_on_brownian_walkers():
    z_msd, z_d = msd_z(seed=500)
    _check(z_msd, "MSD(t) of Brownian walkers")
    _check(z_d, "D of Brownian walkers")


# ------------------------------------------------------------------------------ C1, C2
def _water_trajectory(rng, axes, dt, spacing=4.0):
    """An open-system trajectory of rigid waters [O, H, H] on a line whose dipole axes are
    `axes` (T, n, 3), the H atoms in the plane of the axis and a fixed random direction."""
    n_frames, n, _ = axes.shape
    side = np.cross(axes, rng.normal(size=(n, 3)))
    side /= np.linalg.norm(side, axis=-1, keepdims=True)
    o = np.zeros((n_frames, n, 3))
    o[..., 0] = np.arange(n) * spacing
    half = HOH / 2
    h1 = o + R_OH * (np.cos(half) * axes + np.sin(half) * side)
    h2 = o + R_OH * (np.cos(half) * axes - np.sin(half) * side)
    return trajectory.build(np.stack([o, h1, h2], axis=2).reshape(n_frames, 3 * n, 3), np.tile([8, 1, 1], n),
                            time=np.arange(n_frames) * dt)


def rotational_z(seed, n_real=200, n_vectors=8, n_frames=600, dt=0.02, cos_step=0.6, n_blocks=20):
    """z of C1(t), C2(t) of unit vectors turned at every frame by the angle arccos(0.6) about
    a fresh uniformly random axis: an isotropic random rotation, so exactly
    C1 = ((1 + 2 cos a) / 3)^(t/dt) and C2 = ((1 + 2 cos a + 2 cos 2a) / 5)^(t/dt)
    (the l = 1 and l = 2 characters of the rotation over their dimension), from a uniform start.
    One lag (1, 2, 4 or 6 frames; C1 decays by 1/e in 4.2 frames) per realisation; 20 blocks
    of 30 frames."""
    rng = np.random.default_rng(seed)
    a = np.arccos(cos_step)
    c1, c2 = (1 + 2 * np.cos(a)) / 3, (1 + 2 * np.cos(a) + 2 * np.cos(2 * a)) / 5
    u = _unit(rng, (n_real, n_vectors))
    path = np.empty((n_frames, n_real, n_vectors, 3))
    path[0] = u
    for t in range(1, n_frames):
        axis = _unit(rng, (n_real, n_vectors))
        u = u * np.cos(a) + np.cross(axis, u) * np.sin(a) + axis * np.sum(axis * u, -1, keepdims=True) * (1 - np.cos(a))
        path[t] = u
    lags = [1, 2, 4, 6]
    z1, z2 = [], []
    for k in range(n_real):
        ds = _water_trajectory(rng, path[:, k], dt)
        res = RotationalCorrelation(System.from_dataset(ds), n_blocks=n_blocks).compute(ds)
        lag = lags[k % len(lags)]
        steps = res["lag_time"].values[lag] / dt  # the truth at the reported lag time
        z1.append((res["C"].sel(order=1).values[lag] - c1**steps) / res["C_err"].sel(order=1).values[lag])
        z2.append((res["C"].sel(order=2).values[lag] - c2**steps) / res["C_err"].sel(order=2).values[lag])
    return np.array(z1), np.array(z2)


def test_rotational_correlation_errors_are_calibrated():
    z1, z2 = rotational_z(seed=600)
    _check(z1, "C1(t), isotropic random rotations")
    _check(z2, "C2(t), isotropic random rotations")


# ------------------------------------------------------------------------------ series C(t)
def series_z(seed, n_real=500, n_frames=2000, phi=0.4, n_blocks=20):
    """z of the autocorrelation c(t) of a scalar series with a large mean (3 eV) and AR(1)
    fluctuations of 0.2 eV: truth 0.04 phi^lag eV^2 (up to the O(tau/T) bias of the subtracted
    mean, 0.3 % of an error bar here). One lag (1, 2, 3 or 5 frames) per realisation."""
    rng = np.random.default_rng(seed)
    x = 3.0 + 0.2 * _ar1(rng, (n_frames, n_real), phi)
    lags = [1, 2, 3, 5]
    z = []
    for k in range(n_real):
        res = TCF("E", dt=0.001, n_blocks=n_blocks).compute(xr.Dataset({"E": ("frame", x[:, k], {"units": "electronvolt"})}))
        lag = lags[k % len(lags)]
        z.append((res["acf"].values[lag] - 0.04 * phi**lag) / res["acf_err"].values[lag])
    return np.array(z)


def test_series_autocorrelation_errors_are_calibrated():
    _check(series_z(seed=700), "series autocorrelation, AR(1) around 3 eV")


# ------------------------------------------------------------------------------ VACF
def vacf_z(seed, n_real=200, n_atoms=4, n_frames=1000, a=0.8, sigma=1.5, n_blocks=20):
    """z of the VACF of Ornstein-Uhlenbeck velocities (each component AR(1) with coefficient
    a per frame, standard deviation 1.5 Å/ps): truth 3 sigma^2 a^lag Å^2/ps^2. One group of 4
    atoms per realisation, one lag (0, 1, 3 or 6 frames) per realisation."""
    rng = np.random.default_rng(seed)
    v = sigma * _ar1(rng, (n_frames, n_real * n_atoms * 3), a).reshape(n_frames, n_real, n_atoms, 3)
    lags = [0, 1, 3, 6]
    z = []
    for k in range(n_real):
        ds = trajectory.build(np.zeros_like(v[:, k]), np.full(n_atoms, 18), velocities=v[:, k],
                              time=np.arange(n_frames) * 0.001)
        res = VDOS(System.from_dataset(ds), {"g": np.arange(n_atoms)}, n_blocks=n_blocks).compute(ds).sel(species="g")
        lag = lags[k % len(lags)]
        truth = 3 * sigma**2 * a**lag
        z.append((res["vacf"].values[lag] - truth) / res["vacf_err"].values[lag])
    return np.array(z)


def test_vacf_errors_are_calibrated():
    _check(vacf_z(seed=800), "VACF of Ornstein-Uhlenbeck velocities")


# ------------------------------------------------------------------------------ drifts
def drift_z(seed, phi, n_real=200, n_frames=500, slope=0.3):
    """z of the fitted drift (eV/ps) of -10 eV + slope t + noise (0.01 eV; white, or AR(1)
    with phi: the error must grow by the statistical inefficiency), through energy_drift."""
    from eqt_analysis import conservation

    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) * 0.002
    noise = _ar1(rng, (n_frames, n_real), phi) if phi else rng.normal(size=(n_frames, n_real))
    z = []
    for k in range(n_real):
        s, err, per_mol, per_mol_err = conservation.energy_drift(t, -10.0 + slope * t + 0.01 * noise[:, k], 8)
        assert per_mol == pytest.approx(s / 8) and per_mol_err == pytest.approx(err / 8)
        z.append((s - slope) / err)
    return np.array(z)


@pytest.mark.parametrize("phi", [0.0, 0.5])
def test_drift_errors_are_calibrated(phi):
    _check(drift_z(seed=900, phi=phi), f"energy drift, {'white' if not phi else f'AR(1) {phi}'} noise")
