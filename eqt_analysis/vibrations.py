"""Velocity autocorrelation and vibrational density of states.

VACF_s(t) = <v_i(0)·v_i(t)> averaged over origins and the atoms of species s (Å^2/ps^2), or
mass-weighted <m_i v_i(0)·v_i(t)> converted to eV. The VDOS is its one-sided spectrum
(`timeseries.spectrum`): integrated over frequency (cm^-1) it gives VACF(0), i.e. <v^2>
per atom or, mass-weighted, <m v^2> = 3 k_B T per atom in equilibrium (Parseval).
"""
import numpy as np
import xarray as xr

from . import timeseries, units
from .errors import InputError
from .trajectory import warn

def finite_difference_velocities(positions, dt):
    """Velocities (Å/ps) by central differences of unwrapped positions (T, n, 3); one-sided at
    the ends. Accurate only when frames are close compared with the fastest vibration."""
    v = np.gradient(np.asarray(positions, dtype=float), dt, axis=0)
    return v


def vacf_sums(velocities, masses=None, n_blocks=5, source=None):
    """Sums over atoms of the velocity autocorrelation for velocities (T, n, 3): the whole
    series (T,) and each of n_blocks consecutive blocks (n_blocks, T // n_blocks) of at least
    2 frames. Mass-weighted (amu Å^2/ps^2 -> eV) when masses (n,) are given."""
    velocities = timeseries.check_series(velocities, "velocities", source)
    weights = np.ones(velocities.shape[1]) if masses is None else np.asarray(masses) * units.AMU_A2_PS2

    def summed(v):
        return timeseries.autocorrelation(v).sum(axis=-1) @ weights

    length = timeseries.check_blocks(len(velocities), n_blocks, source)
    blocks = np.array([summed(velocities[b * length:(b + 1) * length]) for b in range(n_blocks)])
    return summed(velocities), blocks


def vdos(chunks, dt, mass_weighted=False, window="hann", fwhm=None, n_blocks=5, source=None):
    """Dataset of VACF (block errors) and VDOS per group.

    chunks: {name: iterable of (velocities (T, k, 3) Å/ps, masses (k,) amu)} over atom chunks;
    dt: time step (ps); fwhm: Gaussian broadening (cm^-1, positive) or None; n_blocks blocks
    of at least 2 frames. source: the file for messages.
    """
    dt = timeseries.check_positive(dt, "the time step (ps)", source)
    if fwhm is not None:
        fwhm = timeseries.check_positive(fwhm, "the broadening fwhm (cm^-1)", source)
    timeseries.window(window, 2)  # an unknown window is refused before any work
    out = None
    for name, parts in chunks.items():
        total, blocks, count = 0.0, 0.0, 0
        for v, m in parts:
            t, b = vacf_sums(v, m if mass_weighted else None, n_blocks, source)
            total, blocks, count = total + t, blocks + b, count + v.shape[1]
        if count == 0:
            raise InputError(f"no atoms in group {name}", source)
        c, blocks = total / count, blocks / count
        err = np.full(len(c), np.nan)
        err[:blocks.shape[1]] = blocks.std(axis=0, ddof=1) / np.sqrt(n_blocks)
        freq, spec = timeseries.spectrum(c, dt, window, fwhm)
        if out is None:
            out = xr.Dataset(coords={
                "lag_time": ("lag_time", np.arange(len(c)) * dt, {"units": "picosecond"}),
                "frequency": ("frequency", freq, {"units": "cm^-1", "long_name": "wavenumber"}),
                "frequency_thz": ("frequency", freq * units.INV_CM, {"units": "THz"}),
            })
        unit = "electronvolt" if mass_weighted else "angstrom^2/picosecond^2"
        out[f"vacf_{name}"] = ("lag_time", c, {"units": unit, "long_name": f"velocity autocorrelation of {name}"})
        out[f"vacf_{name}_err"] = ("lag_time", err, {"units": unit})
        out[f"vdos_{name}"] = ("frequency", spec, {
            "units": f"{unit} cm", "long_name": f"vibrational density of states of {name} (integral over "
                                               "cm^-1 = vacf at lag 0)"})
    out.attrs.update(window=window, broadening_fwhm_cm=float(fwhm or 0.0), mass_weighted=int(mass_weighted),
                     time_step_ps=dt, nyquist_cm=float(0.5 / dt / units.INV_CM), n_blocks=n_blocks,
                     normalization="one-sided spectrum per atom; integral over frequency (cm^-1) equals "
                                   "vacf at lag 0 (<v^2>, or <m v^2> = 3 kT when mass-weighted)")
    return out


def check_sampling(dt):
    """Warn when frames are too far apart for O-H stretches (~3700 cm^-1)."""
    nyquist = 0.5 / dt / units.INV_CM
    if nyquist < 4000:
        warn(f"time step {dt * 1e3:g} fs resolves frequencies only up to {nyquist:.0f} cm^-1; faster "
             "vibrations alias into the spectrum")
