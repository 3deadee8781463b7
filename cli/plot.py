"""eqt-plot: a figure of any eqt result (or MD trajectory), several results overlaid."""
import contextlib
import os

import click
import numpy as np

from eqt_analysis.errors import InputError

from . import outputs
from .common import atomic_output, claim, command, command_line, eqt_command

# the per-frame series of an eqt trajectory that eqt-plot draws (the rest is never loaded)
SERIES = ("time", "conserved_energy", "temperature")


def load(path):
    """The eqt result (or the per-frame series of an eqt MD trajectory) in NetCDF file `path`,
    loaded into memory; InputError (one line, exit 2) when it is neither."""
    import xarray as xr

    if not os.path.exists(path):
        raise InputError("no such file", path)
    if os.path.isdir(path):
        raise InputError("is a directory, not a NetCDF file", path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(8)
    except OSError as err:
        raise InputError(f"cannot read ({err.strerror})", path) from None
    if not magic.startswith((b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")):
        raise InputError("not a NetCDF file (eqt results and trajectories are NetCDF)", path)
    try:
        with xr.open_dataset(path, decode_times=False, decode_timedelta=False) as ds:
            if "result_type" in ds.attrs:
                return ds.load()  # checked with its type (plots.check_drawable)
            series = [name for name in SERIES if name in ds.variables and ds[name].dims == ("frame",)]
            if not {"conserved_energy", "temperature"} & set(series) or "time" not in series or "atom" not in ds.dims:
                raise InputError("neither an eqt result (no result_type attribute) nor an eqt trajectory with "
                                 "time and conserved_energy or temperature", path)
        return _trajectory_series(path, series)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except (OSError, RuntimeError, ValueError, TypeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"not a readable NetCDF file ({first})", path) from None


def _trajectory_series(path, series):
    """The per-frame `series` of an eqt trajectory, read by eqt's reader (truncated or damaged files are refused)
    and checked: finite values, time increasing, at least two frames."""
    from eqt_analysis import io, timeseries
    traj = io.open_trajectory(path, "netcdf")
    n_atoms = traj.sizes["atom"]
    ds = traj[[name for name in series if name != "time"]].load()
    ds = ds.assign_coords(time=("frame", traj["time"].values, traj["time"].attrs))
    if ds.sizes["frame"] < 2:
        raise InputError(f"{ds.sizes['frame']} frame(s): nothing to draw against time", path)
    for name in series:
        timeseries.check_series(ds[name].values, name, path)
    if np.any(np.diff(ds["time"].values) <= 0):
        raise InputError("time does not increase from frame to frame", path)
    return ds.assign_attrs(traj.attrs, n_atoms=n_atoms)


def _stem(path):
    """`run.rdf.nc` -> `run.rdf` ('-' is not an input here)."""
    return os.path.splitext(os.path.basename(path))[0] or "plot"


def _same_plot(path, inputs):
    """True when the PNG at `path` is eqt-plot's figure of the same inputs (a rerun may replace it)."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            text = getattr(image, "text", {}) or {}
    except Exception:  # not a PNG we can read: not ours
        return False
    return text.get("eqt_command") == "eqt-plot" and text.get("eqt_sources") == outputs.source_ids(inputs)


@eqt_command()
@click.argument("paths", metavar="RESULT.nc...", nargs=-1, required=True)
@click.option("--output", "-o", default=None, metavar="PATH",
              help="Figure file; the format from its suffix: .png, .pdf or .svg ('-' = PNG on stdout). "
                   "Default: the first input's name with .png in the current folder (never replacing "
                   "another figure).")
@click.option("--label", "labels", multiple=True, metavar="NAME",
              help="Legend name of each input, in order (repeat once per input). Default: the file names "
                   "without .nc.")
@click.option("--quiet", "-q", is_flag=True, help="Nothing to hide: eqt-plot shows no progress (accepted for scripts).")
@command
def main(paths, output, labels, quiet):
    """Draw eqt results: one or several RESULT.nc files of the same result type (rdf, orient,
    angles, msd, rotcorr, vdos, tcf, angmom, rotvar, eval, opt) overlaid with a legend, or eqt
    MD trajectories (conserved-energy drift in meV/atom and temperature against time). Units on
    every axis, error bands from the results' standard errors; spectra in cm^-1 on a log scale
    where they span decades; orientation maps F = -ln P on a diverging scale (two maps: also
    their difference); rotational errors log-log against the grid's number of rotations.

    \b
    Examples:
      eqt-plot water64_tip3p.rdf.nc                            # -> water64_tip3p.rdf.png
      eqt-plot plain.rdf.nc mts.rdf.nc --label plain --label MTS -o rdf.pdf
      eqt-plot plain.nc random.nc -o drift.svg                 # MD trajectories: drift, T
    """
    from . import plots

    if labels and len(labels) != len(paths):
        raise InputError(f"{len(labels)} --label for {len(paths)} inputs; give one --label per input")
    chosen = output or _stem(paths[0]) + ".png"
    fmt = plots.suffix_format(chosen)
    default = None if output or (os.path.isfile(chosen) and _same_plot(chosen, list(paths))) else "-o"
    target = claim({"-o": chosen}, list(paths), command="eqt-plot", default=default)["-o"]
    datasets = [load(p) for p in paths]
    plots.check_drawable(datasets, paths)
    metadata = {"eqt_command": "eqt-plot", "eqt_sources": outputs.source_ids(list(paths)),
                "command": command_line()}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_output(target, "." + fmt))
        names = labels or ([_stem(p) for p in paths] if len(paths) > 1 else [None])  # one input: no legend prefix
        plots.draw(datasets, names, tmp, fmt, metadata, names=list(paths))
