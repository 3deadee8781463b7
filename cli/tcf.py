"""eqt-tcf: autocorrelation and power spectrum of a scalar time series."""
import contextlib

import click
import xarray as xr

from eqt_analysis import io
from eqt_analysis.errors import InputError
from eqt_analysis.io import ipi
from eqt_analysis.spectra import TCF

from . import plots
from .common import (POSITIVE, blocks_option, claim_result, command, eqt_command, max_lag_option, quiet_option,
                     readable, result_options, trajectories, write_result)


def _series(path, fmt, skip, start, stop, stride, shown=None):
    """The per-frame series of an i-PI .out file or an eqt trajectory as one Dataset (frames
    on `frame`, time as coordinate), the first `skip` frames dropped, then start:stop:stride.
    shown: the name the user gave (for messages; '-' for a copy of stdin)."""
    if path.endswith(".out") or fmt == "ipi-properties":
        props = ipi.read_properties(path)
        ds = xr.Dataset({name: (("frame",) + tuple(f"{name}_dim{k}" for k in range(1, v.ndim)), v, {"units": unit})
                         for name, (v, unit) in props.items() if name != "time"})
        if "time" in props:
            ds = ds.assign_coords(time=("frame", props["time"][0]))
    else:
        ds = io.open_trajectory(path, fmt)
    rest = ds.isel(frame=slice(skip, None))
    selected = rest.isel(frame=slice(start, stop, stride))
    if selected.sizes["frame"] == 0:
        raise InputError(f"after --skip {skip}: {io.no_frames_selected(rest.sizes['frame'], start, stop, stride)}",
                         shown or path)
    selected.encoding["source"] = shown or path
    return selected


@eqt_command()
@click.argument("paths", metavar="SERIES...", nargs=-1, required=True)
@click.option("--var", "-v", "name", required=True,
              help="Series: a per-frame variable of an eqt trajectory (e.g. potential_energy) or an i-PI "
                   "property column in eqt naming (e.g. potential_energy, pot_component_raw_0).")
@click.option("--minus", default=None, help="Subtract this series first (e.g. the averaged model's energy).")
@click.option("--format", "-f", "fmt", default=None,
              help="Input format: ipi-properties, or a trajectory format (default: .out = i-PI properties, "
                   "else from the extension).")
@click.option("--skip", type=click.IntRange(min=0), default=0, show_default=True,
              help="Rows/frames to drop first (1 for i-PI replays: the start structure).")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True,
              help="First frame (0-based) after --skip.")
@click.option("--stop", type=click.IntRange(min=0), default=None, help="Stop before this frame (after --skip).")
@click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True, help="Use every n-th frame.")
@click.option("--dt", type=POSITIVE, default=None,
              help="Time step (ps) of the selected frames when the input has no time.")
@click.option("--window", default="hann", show_default=True,
              help="Window on the correlation before the transform (hann, blackman, none, ...: scipy's names).")
@click.option("--fwhm", type=POSITIVE, default=None,
              help="Extra Gaussian broadening, full width at half maximum (cm^-1).")
@max_lag_option
@blocks_option
@result_options
@quiet_option
@command
def main(paths, name, minus, fmt, skip, start, stop, stride, dt, window, fwhm, max_lag, blocks, output, dat, plot,
         quiet):
    """Autocorrelation of a scalar series minus its mean, over all origins (block errors at every
    lag up to half the run), and its one-sided power spectrum in cm^-1 (integral = variance;
    units of the series squared per cm^-1); the mean with its block error. The spectrum of the whole
    run can dip slightly below zero where it is near zero (noisy long lags, the window's side lobes):
    --max-lag gives a smoother one with errors. Energies from i-PI
    are converted to eV.

    \b
    Several SERIES (paths, or quoted globs): runs of one system with one time step; the series
    minus its mean over all runs, correlated over every time origin of every run (lags never
    span a join), errors from blocks cut within each run.

    \b
    Examples:
      eqt-tcf sim.out -v potential_energy --plot cvv.png
      eqt-tcf replay.out -v pot_component_raw_0 --minus pot_component_raw_5 --skip 1 --dt 0.0005
    """
    paths = trajectories(paths)
    where = claim_result(paths, "tcf", output, dat, plot)
    calc = TCF(name, minus, dt, window, fwhm, blocks, paths[0], max_lag)
    with contextlib.ExitStack() as stack:  # '-': stdin copied to a file that lives until the result is made
        result = calc.compute([_series(stack.enter_context(readable(path, fmt)), fmt, skip, start, stop, stride, path)
                               for path in paths])
    a = result.attrs
    click.echo(f"{a['series']}: mean {float(result['mean']):.6g} +- {float(result['mean_err']):.2g} "
               f"{a['series_units']}, std {float(result['variance']) ** 0.5:.4g} {a['series_units']}, "
               f"{a['n_frames']} samples every {a['time_step_ps']:g} ps", err=True)
    write_result(result, where, plots.draw_result, "frequency")
