"""Time-correlation tools over all time origins, by FFT (O(T log T)), float64 throughout.

Arrays have time as the first axis; every other axis is carried along, so callers chunk
over atoms to bound memory. Lags are in frames; callers attach the time step.
"""
import numpy as np
from scipy import fft as sp_fft
from scipy import signal

from . import units
from .blocks import standard_error
from .errors import InputError


def check_positive(value, what, source=None):
    """`value` as a float; InputError unless it is finite and > 0 (what: e.g. 'fwhm (cm^-1)')."""
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise InputError(f"{what} must be a positive number, got {value:g}", source)
    return value


def check_series(values, what, source=None):
    """`values` (frames first) as a float array; InputError naming the first frame with NaN or inf."""
    values = np.atleast_1d(np.asarray(values, dtype=float))
    bad = np.flatnonzero(~np.isfinite(values).all(axis=tuple(range(1, values.ndim))))
    if bad.size:
        raise InputError(f"NaN or inf in {what} at frame {bad[0]}", source)
    return values


def _float32_spacing(times):
    """The spacing (ps) of float32 numbers at the largest |time| when every time is a float32 number (AMBER
    NetCDF and other formats store time in single precision: steps then scatter by that much), else 0."""
    single = times.astype(np.float32)
    return float(np.spacing(np.abs(single).max())) if np.array_equal(single, times) else 0.0


def uneven_steps(times, rtol=1e-4):
    """(T - 1,) bool: the steps of `times` (ps) that differ from the first by more than rtol and the rounding of
    times stored in single precision."""
    times = np.asarray(times, dtype=float)
    dt = np.diff(times)
    return np.abs(dt - dt[:1]) > rtol * np.abs(dt[:1]) + 2 * _float32_spacing(times) + 1e-9


def _time_step(times, source, rtol):
    """(the uniform time step (ps) of `times` (ps), its uncertainty from rounding (ps)); InputError if the steps
    are not uniform to rtol and the rounding of the stored times."""
    times = check_series(times, "time", source)
    if times.size < 2:
        raise InputError(f"{times.size} frame(s): a time correlation needs at least 2", source)
    dt = np.diff(times)
    if np.any(dt <= 0):
        k = int(np.argmax(dt <= 0))
        raise InputError(f"time does not increase at frame {k + 1} ({times[k]:g} ps, then {times[k + 1]:g} ps)",
                         source)
    uneven = uneven_steps(times, rtol)
    if np.any(uneven):
        k = int(np.argmax(uneven))
        raise InputError(f"non-uniform time step ({dt[0]:g} ps, then {dt[k]:g} ps at frame {k + 1}); "
                         "select a uniform part with --start/--stop/--stride", source)
    return float(np.mean(dt)), 2 * _float32_spacing(times) / dt.size


def time_step(times, source=None, rtol=1e-4):
    """The uniform time step (ps) of `times` (ps); InputError if the steps are not uniform (to rtol, and to
    the rounding of times stored in single precision)."""
    return _time_step(times, source, rtol)[0]


def runs_time_step(runs, source=None):
    """The time step (ps) common to the runs (eqt Datasets with a time coordinate): InputError
    (naming the run's file, else `source`) when a run has no time, uneven steps, or a step
    other than the first run's."""
    steps, rounding = [], []
    for ds in runs:
        where = ds.encoding.get("source", source)
        if "time" not in ds.coords:
            raise InputError("the trajectory has no time; a time correlation needs the time of each frame", where)
        step, uncertainty = _time_step(ds["time"].values, where, 1e-4)
        steps.append(step)
        rounding.append(uncertainty)
        if abs(steps[-1] - steps[0]) > 1e-6 * steps[0] + rounding[0] + rounding[-1]:
            raise InputError(f"time step {steps[-1]:g} ps, but {steps[0]:g} ps in the first run: runs analysed "
                             "together need one time step", where)
    return steps[0]


def autocorrelation(x):
    """c(m) = <x(t) x(t + m)> averaged over all T - m origins, for every column of x (T, ...)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    size = sp_fft.next_fast_len(2 * n, real=True)
    series = np.ascontiguousarray(np.moveaxis(x, 0, -1))  # time contiguous: much faster FFTs
    spectrum = sp_fft.rfft(series, n=size, axis=-1, workers=-1)
    acf = sp_fft.irfft(spectrum.real**2 + spectrum.imag**2, n=size, axis=-1, workers=-1)[..., :n]
    return np.moveaxis(acf / (n - np.arange(n)), -1, 0)


def summed_autocorrelation(x, weights=None):
    """Sum over the columns of x (T, ...) of their autocorrelations (T,), each averaged over its
    T - m origins; with `weights` (x.shape[1:], broadcastable) a weighted sum. The power spectra
    are added before one inverse FFT: the inverse transforms cost nothing per column."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    columns = x.reshape(n, -1)
    w = None if weights is None else np.broadcast_to(np.asarray(weights, float), x.shape[1:]).reshape(-1)
    size = sp_fft.next_fast_len(2 * n, real=True)
    step = max(1, 2**20 // n)  # FFT work space of ~16 MB per piece of columns: reused, not re-faulted
    power = np.zeros(size // 2 + 1)
    for lo in range(0, columns.shape[1], step):
        # along the time axis as stored: ~2x faster than transposing the columns first
        spectrum = sp_fft.rfft(columns[:, lo:lo + step], n=size, axis=0, workers=-1)
        parts = spectrum.view(float).reshape(len(spectrum), -1)  # (frequency, re and im of each column)
        power += np.einsum("fc,fc->f", parts, parts) if w is None else (parts * parts) @ np.repeat(w[lo:lo + step], 2)
    return sp_fft.irfft(power, n=size)[:n] / (n - np.arange(n))


def _running_term(r):
    """S1(m) = (1 / (T - m)) sum_t [r^2(t) + r^2(t + m)] (T,), summed over the columns of r (T, ...)."""
    n = r.shape[0]
    d = np.einsum("ti,ti->t", r.reshape(n, -1), r.reshape(n, -1))
    before = np.concatenate([[0.0], np.cumsum(d)])
    m = np.arange(n)
    return (before[n - m] + before[-1] - before[m]) / (n - m)


def msd_fft(positions):
    """Mean-squared displacement over all origins of unwrapped positions (T, n, 3), summed over
    the n atoms -> (T,), Å².

    MSD(m) = S1(m) - 2 S2(m) with S1 from running sums of r^2 and S2 the position
    autocorrelation summed over x, y, z and the atoms (Calandrini et al.; as MDAnalysis
    EinsteinMSD(fft=True), which keeps the atoms apart).
    """
    r = np.asarray(positions, dtype=float)
    r = r - r.mean(axis=0)  # the MSD does not see a constant shift; small values keep S1 - 2 S2 precise
    return _zero_at_lag_0(_running_term(r) - 2 * summed_autocorrelation(r))


def _zero_at_lag_0(msd):
    """The MSD with its lag-0 value exactly 0, as defined (S1 - 2 S2 leaves ~1e-15 of rounding there)."""
    msd[0] = 0.0
    return msd


def msd_fft_halves(positions):
    """(msd_fft of the whole run (T,), [msd_fft of its first and of its second half (T/2,)]) for an
    even number of frames T, from the FFTs of the halves alone: the whole run's position
    correlation is the halves' own plus their cross-correlation (one more inverse FFT)."""
    r = np.asarray(positions, dtype=float)
    r = r - r.mean(axis=0)
    n = r.shape[0]
    half = n // 2
    if n != 2 * half or half < 1:
        raise ValueError(f"msd_fft_halves needs an even number of frames, not {n}")
    columns = r.reshape(n, -1)
    size = sp_fft.next_fast_len(2 * half, real=True)
    step = max(1, 2**20 // n)
    powers = np.zeros((2, size // 2 + 1))
    cross = np.zeros(size // 2 + 1, dtype=complex)
    for lo in range(0, columns.shape[1], step):
        first, second = (sp_fft.rfft(columns[k * half:(k + 1) * half, lo:lo + step], n=size, axis=0, workers=-1)
                         for k in (0, 1))
        for k, spectrum in enumerate((first, second)):
            parts = spectrum.view(float).reshape(len(spectrum), -1)
            powers[k] += np.einsum("fc,fc->f", parts, parts)
        cross += np.einsum("fc,fc->f", first.conj(), second)
    own = sp_fft.irfft(powers, n=size, axis=-1)[:, :half]  # sums over origins within each half
    between = sp_fft.irfft(cross, n=size)  # [s] = sum_t x1(t) x2(t + s), s negative at size + s
    lags = np.arange(n)
    whole = between[(lags - half) % size] * (lags > 0)
    whole[:half] += own.sum(axis=0)
    halves = [_zero_at_lag_0(_running_term(r[k * half:(k + 1) * half]) - 2 * own[k] / (half - np.arange(half)))
              for k in (0, 1)]
    return _zero_at_lag_0(_running_term(r) - 2 * whole / (n - lags)), halves


def window(name, n):
    """Window of length n for the one-sided correlation (maximum at lag 0)."""
    if name == "none":
        return np.ones(n)
    try:
        full = signal.get_window(name, 2 * n - 1, fftbins=False)
    except ValueError:
        raise InputError(f"unknown window {name!r} (try hann, blackman, none)") from None
    return full[n - 1:]


def spectrum(acf, dt, window_name="hann", fwhm=None):
    """One-sided power spectrum of an even autocorrelation acf (T, ...) sampled every dt ps.

    Returns (frequency (cm^-1), spectrum). Normalization (Wiener-Khinchin, Parseval): the
    spectrum integrated over frequency in cm^-1 equals acf[0] (the variance for a
    zero-mean signal); units are those of acf per cm^-1. `fwhm` (cm^-1, None: none) adds a Gaussian
    broadening of that full width at half maximum (a Gaussian damping of the acf).
    """
    dt = check_positive(dt, "the time step (ps)")
    if fwhm is not None:
        fwhm = check_positive(fwhm, "the broadening fwhm (cm^-1)")
    acf = np.asarray(acf, dtype=float)
    n = acf.shape[0]
    w = window(window_name, n)
    if fwhm:
        t = np.arange(n) * dt  # ps
        sigma_nu = fwhm / (2 * np.sqrt(2 * np.log(2))) * units.INV_CM  # in 1/ps
        with np.errstate(over="ignore"):  # a width beyond the float range damps every lag but 0 to zero
            w = w * np.exp(-0.5 * (2 * np.pi * sigma_nu * t) ** 2)
    damped = acf * w.reshape((n,) + (1,) * (acf.ndim - 1))
    # even extension c(-m) = c(m): S(nu) = dt [c0 + 2 sum_m c(m) cos(2 pi nu m dt)]
    sym = np.concatenate([damped, damped[-1:0:-1]], axis=0)
    s = np.fft.rfft(sym, axis=0).real * dt  # 2-sided density per unit frequency (1/ps)
    freq = np.fft.rfftfreq(sym.shape[0], d=dt)  # 1/ps
    one_sided = 2 * s
    one_sided[0] = s[0]
    if sym.shape[0] % 2 == 0:
        one_sided[-1] = s[-1]
    return freq / units.INV_CM, one_sided * units.INV_CM


def spectrum_lags(max_lag, dt, blocks, source=None):
    """Lags (frames 0..m) of the correlation behind a spectrum with a correlation window of max_lag ps,
    and the index in blocks.layout (a LagBlocks) of the blocking whose blocks hold them all. InputError
    when max_lag is under 4 time steps or no two blocks are longer than it."""
    max_lag = check_positive(max_lag, "the correlation window --max-lag (ps)", source)
    m = int(round(max_lag / dt))
    if m < 4:
        raise InputError(f"--max-lag {max_lag:g} ps is under 4 time steps of {dt:g} ps", source)
    k = blocks.blocking_for(m)
    if k is None:
        longest = (blocks.layout[-1][1] - 1) * dt
        raise InputError(f"--max-lag {max_lag:g} ps needs blocks longer than it: at most {longest:g} ps "
                         f"with these runs (or fewer --blocks)", source)
    return m + 1, k


def block_spectrum_error(per_block, n_lags, dt, window_name="hann", fwhm=None):
    """(standard error of the spectrum, blocks behind it) from per-block correlation curves (B, ..., T_block)
    of one blocking, each cut to n_lags lags and transformed as `spectrum` does: the Welch-Bartlett error of a
    spectrum computed with the same window from the whole run's correlation over those lags."""
    curves = np.moveaxis(np.asarray(per_block, dtype=float)[..., :n_lags], -1, 0)  # (n_lags, B, ...)
    _, spectra = spectrum(curves, dt, window_name, fwhm)
    return standard_error(spectra, axis=1), curves.shape[1]


def linear_fit(x, y):
    """Least-squares slope and intercept of y(x) (last axis of y may be batched as columns)."""
    x = np.asarray(x, dtype=float)
    a = np.vstack([x, np.ones_like(x)]).T
    coef, *_ = np.linalg.lstsq(a, np.asarray(y, dtype=float), rcond=None)
    return coef[0], coef[1]


def integrated_time(curve, dt):
    """Integral (ps) of a normalized correlation curve from 0 to its first zero crossing
    (or to the end), by the trapezoid rule; the crossing is placed by linear interpolation
    between the last positive sample and the first one at or below zero."""
    curve = np.asarray(curve, dtype=float)
    below = np.flatnonzero(curve <= 0)
    if not below.size:
        return float(np.trapezoid(curve, dx=dt))
    k = below[0]  # curve[k] <= 0 < curve[k - 1]
    if k == 0:
        return 0.0
    last, first_below = curve[k - 1], curve[k]
    return float(np.trapezoid(curve[:k], dx=dt) + 0.5 * last * dt * last / (last - first_below))


def statistical_inefficiency(residuals):
    """g = 1 + 2 sum_k rho_k of a series (summed up to the first negative rho); the variance of
    a mean or a fitted slope grows by g over the independent-sample value."""
    r = np.asarray(residuals, dtype=float) - np.mean(residuals)
    acf = autocorrelation(r)
    if acf[0] == 0:
        return 1.0
    rho = acf / acf[0]
    neg = np.flatnonzero(rho[1:] < 0)
    stop = neg[0] + 1 if neg.size else len(rho)
    return max(1.0, 1.0 + 2.0 * rho[1:stop].sum())


def mean_and_error(values):
    """(mean, standard error) of a series of correlated samples: the independent-sample error inflated by
    the statistical inefficiency; NaN error for one sample."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 2:
        return float(x.mean()), float("nan")
    g = statistical_inefficiency(x) if n > 2 and np.ptp(x) > 0 else 1.0
    return float(x.mean()), float(np.std(x, ddof=1) / np.sqrt(n) * np.sqrt(g))


def drift(times, values, source=None):
    """Slope of values(times) by least squares and its standard error, the error inflated by
    the statistical inefficiency of the residuals (correlated samples). Needs >= 3 frames."""
    t = check_series(times, "time", source)
    y = check_series(values, "the series", source)
    n = len(t)
    if n < 3:
        raise InputError(f"{n} frame(s): a drift and its error need at least 3", source)
    if np.ptp(t) <= 0:
        raise InputError("all frames have the same time: no drift can be fitted", source)
    slope, intercept = linear_fit(t, y)
    res = y - (slope * t + intercept)
    se = np.sqrt(np.sum(res**2) / (n - 2) / np.sum((t - t.mean()) ** 2))
    return float(slope), float(se * np.sqrt(statistical_inefficiency(res)))
