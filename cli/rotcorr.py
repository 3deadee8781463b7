"""eqt-rotcorr: rotational relaxation of water dipole axes."""
import click

from eqt_analysis import molecules, rotation, timeseries
from eqt_analysis.errors import InputError

from .common import (figure, command, claim_result, eqt_command, result_options, read_chunks, trajectory_options,
                     write_result)


@eqt_command()
@click.argument("path", metavar="TRAJ")
@trajectory_options
@click.option("--blocks", type=click.IntRange(min=2), default=5, show_default=True,
              help="Blocks of consecutive frames for the standard errors.")
@result_options
@command
def main(path, fmt, topology, units, start, stop, stride, chunk, blocks, output, dat, plot):
    """Dipole-axis time correlations of the waters in TRAJ: C1(t) = <u(0)·u(t)> and
    C2(t) = <P2(u(0)·u(t))> over all time origins, with block standard errors, and their
    integrated relaxation times (ps, integral up to the first zero).

    \b
    Example:
      eqt-rotcorr traj.nc --plot rot.png       # -> traj.rotcorr.nc
    """
    where = claim_result(path, "rotcorr", output, dat, plot)
    chunks = read_chunks(path, fmt, topology, units, start, stop, stride, chunk)
    first = next(chunks, None)
    if first is None:
        raise InputError("no frames selected", path)
    waters = molecules.find_waters(first["atomic_number"].values, first["positions"].values[0],
                                   first["cell"].values[0] if "cell" in first else None, first["pbc"].values)
    if len(waters) == 0:
        raise InputError("no water molecules (an O with its two nearest H) found", path)
    times = []

    def all_chunks():
        for ds in [first, *chunks]:
            if "time" not in ds.coords:
                raise InputError("the trajectory has no time", path)
            times.extend(ds["time"].values)
            yield ds

    u = rotation.dipole_axes(all_chunks(), waters)
    result = rotation.rotational_correlation(u, timeseries.time_step(times, path), blocks, path)
    click.echo(f"tau_C1 = {float(result['tau_C1']):.4g} ps, tau_C2 = {float(result['tau_C2']):.4g} ps "
               f"({len(waters)} waters, {len(u)} frames)", err=True)
    write_result(result, where, draw)


def draw(ds, path):
    """C1 and C2 with error bands."""
    t = ds["lag_time"].values
    with figure(path) as (fig, axes):
        ax = axes[0, 0]
        for name in ("C1", "C2"):
            line, = ax.plot(t, ds[name].values, label=f"{name} (tau {float(ds['tau_' + name]):.3g} ps)")
            ax.fill_between(t, ds[name] - ds[name + "_err"], ds[name] + ds[name + "_err"], color=line.get_color(),
                            alpha=0.3)
        ax.set(xlabel="lag time (ps)", ylabel="correlation")
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend()
