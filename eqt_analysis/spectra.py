"""Scalar time series: autocorrelation and power spectrum (result type `tcf`; the paper's c_VV).

A per-frame series x(t) (e.g. the potential energy, or the difference between a plain and a
rotationally averaged model) minus its mean gives c(t) = <dx(0) dx(t)> over all origins, with
block errors at every lag that blocks hold (`blocks.LagBlocks`), and its one-sided power
spectrum S(nu) (units of x^2 per cm^-1) whose integral over cm^-1 is the variance of x
(Parseval). The mean of x comes with its block standard error.
"""
import numpy as np
import xarray as xr

from . import results, timeseries, units
from .blocks import LagBlocks, combine_runs, standard_error
from .errors import InputError


class TCF:
    """Autocorrelation and spectrum of one per-frame variable of a Dataset (a trajectory, or an
    i-PI property file read as one); needs no System.

    variable: its name; minus: a variable (same units) subtracted first; dt: time step (ps)
    when the Dataset has no time; window, fwhm (cm^-1): as `timeseries.spectrum`; n_blocks:
    blocks of consecutive frames for the errors; max_lag (ps): the spectrum from the correlation up
    to this lag only (window over it), with block errors (None: the whole run, no spectrum errors);
    source: the file, for messages.
    """

    def __init__(self, variable, minus=None, dt=None, window="hann", fwhm=None, n_blocks=5, source=None,
                 max_lag=None):
        self.source = source
        if dt is not None:
            dt = timeseries.check_positive(dt, "the time step (ps)", source)
        if fwhm is not None:
            fwhm = timeseries.check_positive(fwhm, "the broadening fwhm (cm^-1)", source)
        timeseries.window(window, 2)  # an unknown window is refused before any work
        if max_lag is not None:
            max_lag = timeseries.check_positive(max_lag, "the correlation window --max-lag (ps)", source)
        self.variable, self.minus, self.dt, self.window, self.fwhm, self.n_blocks, self.max_lag = (
            variable, minus, dt, window, fwhm, n_blocks, max_lag)

    def _series(self, ds, name, where):
        if name not in ds or ds[name].dims != ("frame",):
            per_frame = [n for n, v in ds.data_vars.items() if v.dims == ("frame",)]
            available = f"available: {', '.join(per_frame)}" if per_frame else "the file has no per-frame variables"
            raise InputError(f"no per-frame variable {name!r}; {available}", where)
        return ds[name].values, ds[name].attrs.get("units", "")

    def compute(self, runs):
        """The `tcf` result of the per-frame variable of `runs` (a Dataset with frames on dimension
        `frame`, or a list of runs of one system: the series minus its mean over all runs, its
        autocorrelation averaged over every time origin of every run, lags never spanning a
        join, errors from blocks cut within each run)."""
        runs = [runs] if isinstance(runs, xr.Dataset) else list(runs)
        series = [self._difference(ds) for ds in runs]
        label, unit = series[0][1], series[0][2]
        for ds, (_, _, other) in zip(runs, series):
            if other != unit:
                raise InputError(f"{label} is in {other!r} here but {unit!r} in the first run",
                                 ds.encoding.get("source", self.source))
        xs = [x for x, _, _ in series]
        dt = self.dt
        if all("time" in ds.coords for ds in runs):
            own = timeseries.runs_time_step(runs, self.source)
            if dt is not None and abs(dt - own) > 1e-4 * own:
                raise InputError(f"--dt {dt:g} ps, but the input's own time step is {own:g} ps: leave --dt out "
                                 "(it is for inputs without time)", self.source)
            dt = own
        elif dt is None:
            raise InputError("the input has no time; pass --dt (ps)", self.source)
        lengths = [len(x) for x in xs]
        blocks = LagBlocks(lengths, self.n_blocks, self.source)
        every = np.concatenate(xs)
        mean = every.mean()
        per_run = [(timeseries.autocorrelation(x - mean),
                    blocks.curves(lambda y: timeseries.autocorrelation(y - y.mean()), x, r)) for r, x in enumerate(xs)]
        acf, per_block = combine_runs(per_run, max(lengths))
        err, used = blocks.errors(per_block)
        length = blocks.layout[0][1]
        block_means = np.concatenate([x[:n * length].reshape(n, length).mean(axis=1)
                                      for x, n in zip(xs, blocks.per_run[0])])
        mean_err = standard_error(block_means)
        dx = every - mean
        n_lags = len(acf)
        if self.max_lag is not None:
            n_lags, k = timeseries.spectrum_lags(self.max_lag, dt, blocks, self.source)
        freq, spec = timeseries.spectrum(acf[:n_lags], dt, self.window, self.fwhm)
        squared = f"({unit})^2" if unit else "1"
        long = f"power spectrum of {label} (integral over cm^-1 = variance)"
        if self.max_lag is None:
            spectrum = {"spectrum": results.variable("frequency", spec, f"{squared} cm", long)}
        else:
            spec_err, n_spec = timeseries.block_spectrum_error(per_block[k], n_lags, dt, self.window, self.fwhm)
            spectrum = {**results.with_error("spectrum", "frequency", spec, spec_err, f"{squared} cm", long),
                        "spectrum_blocks": results.variable((), n_spec, "1", "blocks behind the spectrum's errors")}
        out = xr.Dataset(
            {**results.with_error("acf", "lag_time", acf, err, squared, f"autocorrelation of {label} minus its mean"),
             "error_blocks": results.variable("lag_time", used, "1", "blocks of consecutive frames behind the "
                                              "errors at this lag (0: none hold it, errors NaN)"),
             **spectrum,
             **results.with_error("mean", (), mean, mean_err, unit or "1", f"mean of {label}"),
             "variance": results.variable((), dx.var(), squared, f"variance of {label}")},
            coords={"lag_time": ("lag_time", np.arange(len(acf)) * dt, {"units": "picosecond", "long_name": "lag time"}),
                    "frequency": ("frequency", freq, {"units": "cm^-1", "long_name": "wavenumber"}),
                    "frequency_THz": ("frequency", freq * units.INV_CM, {"units": "THz", "long_name": "frequency"})})
        return results.finish(out, "tcf", series=label, series_units=unit, time_step_ps=dt, window=self.window,
                              broadening_fwhm_cm=float(self.fwhm or 0.0), n_blocks=self.n_blocks,
                              max_lag_ps=float((n_lags - 1) * dt) if self.max_lag is not None else 0.0,
                              n_frames=sum(lengths), n_runs=len(runs))

    def _difference(self, ds):
        """(series (T,), its label, its unit) of one run: the variable, minus --minus. Errors name
        the run's file (the Dataset's encoding['source']), else the source."""
        where = ds.encoding.get("source", self.source)
        values, unit = self._series(ds, self.variable, where)
        label = self.variable
        if self.minus:
            other, other_unit = self._series(ds, self.minus, where)
            if other_unit != unit:
                raise InputError(f"{self.variable} is in {unit!r} but {self.minus} in {other_unit!r}", where)
            values, label = values - other, f"{self.variable} - {self.minus}"
        return timeseries.check_series(values, label, where), label, unit
