"""eqt-tcf: autocorrelation and power spectrum of a scalar time series."""
import os

import click
import numpy as np

from eqt_analysis import io, series, timeseries
from eqt_analysis.errors import InputError
from eqt_analysis.io import ipi

from .common import POSITIVE, claim_result, command, eqt_command, figure, result_options, write_result


def _load(path, fmt, name):
    """(values, units, times or None) of series `name` from an i-PI .out or an eqt trajectory."""
    if path.endswith(".out") or fmt == "ipi-properties":
        props = ipi.read_properties(path)
        if name not in props:
            raise InputError(f"no column {name!r}; columns: {', '.join(props)}", path)
        times = props["time"][0] if "time" in props else None
        return props[name][0], props[name][1], times
    ds = io.open_trajectory(path, fmt)
    if name not in ds or ds[name].dims != ("frame",):
        per_frame = [n for n, v in ds.data_vars.items() if v.dims == ("frame",)]
        raise InputError(f"no per-frame variable {name!r}; available: {', '.join(per_frame)}", path)
    times = ds["time"].values if "time" in ds.coords else None
    return ds[name].values, ds[name].attrs.get("units", ""), times


@eqt_command()
@click.argument("path", metavar="SERIES")
@click.option("--var", "-v", "name", required=True,
              help="Series: a per-frame variable of an eqt trajectory (e.g. potential_energy) or an i-PI "
                   "property column in eqt naming (e.g. potential_energy, pot_component_raw_0).")
@click.option("--minus", default=None, help="Subtract this series first (e.g. the averaged model's energy).")
@click.option("--format", "-f", "fmt", default=None, help="Input format (default: .out = i-PI properties).")
@click.option("--skip", type=click.IntRange(min=0), default=0, show_default=True,
              help="Rows/frames to drop first (1 for i-PI replays: the start structure).")
@click.option("--dt", type=POSITIVE, default=None, help="Time step (ps) when the input has no time.")
@click.option("--window", default="hann", show_default=True, help="Window on the correlation (hann, none, ...).")
@click.option("--fwhm", type=POSITIVE, default=None, help="Extra Gaussian broadening FWHM (cm^-1).")
@click.option("--blocks", type=click.IntRange(min=2), default=5, show_default=True, help="Blocks for errors.")
@result_options
@command
def main(path, name, minus, fmt, skip, dt, window, fwhm, blocks, output, dat, plot):
    """Autocorrelation of a scalar series minus its mean, over all origins (block errors), and
    its one-sided power spectrum in cm^-1 (integral = variance; units of the series squared per
    cm^-1). Energies from i-PI are converted to eV.

    \b
    Examples:
      eqt-tcf sim.out -v potential_energy --plot cvv.png
      eqt-tcf replay.out -v pot_component_raw_0 --minus pot_component_raw_5 --skip 1 --dt 0.0005
    """
    where = claim_result(path, "tcf", output, dat, plot)
    if not os.path.exists(path):
        raise InputError("no such file", path)
    values, unit, times = _load(path, fmt, name)
    label = name
    if minus:
        other, other_unit, _ = _load(path, fmt, minus)
        if other_unit != unit:
            raise InputError(f"{name} is in {unit!r} but {minus} in {other_unit!r}", path)
        values, label = values - other, f"{name} - {minus}"
    values = values[skip:]
    if dt is None:
        if times is None:
            raise InputError("the input has no time; pass --dt (ps)", path)
        dt = timeseries.time_step(np.asarray(times)[skip:], path)
    result = series.correlation_spectrum(values, dt, label, unit, window, fwhm, blocks, path)
    click.echo(f"{label}: mean {result.attrs['mean']:.6g} {unit}, std {np.sqrt(result.attrs['variance']):.4g} {unit}, "
               f"{len(values)} samples every {dt:g} ps", err=True)
    write_result(result, where, draw, "frequency")


def draw(ds, path):
    """Autocorrelation and power spectrum side by side."""
    with figure(path, 1, 2, (10, 4)) as (fig, axes):
        a, b = axes[0]
        a.plot(ds["lag_time"].values, ds["acf"].values)
        a.set(xlabel="lag time (ps)", ylabel=f"acf ({ds['acf'].attrs['units']})", title=ds.attrs["series"])
        b.semilogy(ds["frequency"].values[1:], np.abs(ds["spectrum"].values[1:]))
        b.set(xlabel="wavenumber (cm⁻¹)", ylabel=f"spectrum ({ds['spectrum'].attrs['units']})")
