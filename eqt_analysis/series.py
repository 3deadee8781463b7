"""Scalar time series: autocorrelation and power spectrum (the paper's c_VV spectra).

A series x(t) (e.g. the potential energy, or the difference between a plain and a
rotationally averaged model) minus its mean gives c(t) = <dx(0) dx(t)> over all origins, with
block errors, and its one-sided power spectrum S(nu) (units of x^2 per cm^-1) whose integral
over cm^-1 is the variance of x (Parseval).
"""
import numpy as np
import xarray as xr

from . import timeseries, units


def correlation_spectrum(values, dt, name, unit, window="hann", fwhm=None, n_blocks=5, source=None):
    """Dataset with acf (lag_time), its block error, and spectrum (frequency, cm^-1).

    values: the series (finite); dt: time step (ps, positive); fwhm: broadening (cm^-1,
    positive) or None; n_blocks blocks of at least 2 frames. source: the file for messages.
    """
    x = timeseries.check_series(values, name, source)
    dt = timeseries.check_positive(dt, "the time step (ps)", source)
    if fwhm is not None:
        fwhm = timeseries.check_positive(fwhm, "the broadening fwhm (cm^-1)", source)
    timeseries.check_blocks(len(x), n_blocks, source)
    dx = x - x.mean()
    acf = timeseries.autocorrelation(dx)
    err, _ = timeseries.block_error(lambda y: timeseries.autocorrelation(y - y.mean()), x, n_blocks, source)
    freq, spec = timeseries.spectrum(acf, dt, window, fwhm)
    squared = f"({unit})^2" if unit else "1"
    return xr.Dataset(
        {"acf": ("lag_time", acf, {"units": squared, "long_name": f"autocorrelation of {name} minus its mean"}),
         "acf_err": ("lag_time", err, {"units": squared, "long_name": "standard error (blocks) of acf"}),
         "spectrum": ("frequency", spec, {"units": f"{squared} cm", "long_name": f"power spectrum of {name} "
                                                                                "(integral over cm^-1 = variance)"})},
        coords={"lag_time": ("lag_time", np.arange(len(x)) * dt, {"units": "picosecond"}),
                "frequency": ("frequency", freq, {"units": "cm^-1"}),
                "frequency_thz": ("frequency", freq * units.INV_CM, {"units": "THz"})},
        attrs={"series": name, "mean": float(x.mean()), "variance": float(dx.var()), "series_units": unit,
               "time_step_ps": dt, "window": window, "broadening_fwhm_cm": float(fwhm or 0.0),
               "n_blocks": n_blocks})
