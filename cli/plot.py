"""eqt-plot: a figure of any eqt result (or MD trajectory), several results overlaid."""
import contextlib
import os

import click
import numpy as np

from eqt_analysis.errors import InputError

from . import outputs
from .common import _spool_stdin, atomic_output, claim, command, command_line, eqt_command

# the per-frame series of an eqt trajectory that eqt-plot draws (the rest is never loaded)
SERIES = ("time", "conserved_energy", "temperature")
# the per-epoch validation errors of a model's training history that eqt-plot draws: history key ->
# (long name, units); eqt-train records them in eV, eV/Å, drawn in meV, meV/Å
LEARNING_CURVE = {"forces_mae": ("validation force MAE", "meV/Å"),
                  "energy_per_atom_mae": ("validation energy MAE per atom", "meV/atom"),
                  "rot_std_forces": ("spread of the forces over rotations", "meV/Å")}


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
    if magic.startswith(b"\x80"):  # a pickle: an eqt model (modelfile's restricted loader decides)
        return _learning_curve(path)
    if not magic.startswith((b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")):
        raise InputError("neither a NetCDF file (eqt results and trajectories) nor an eqt model", path)
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


def _learning_curve(path):
    """The learning curve of an eqt model file: the validation errors of every epoch of its last
    training stage (numbered over all its stages, so consecutive stages line up) and its held-out
    test errors, in meV (attributes test_*), as a Dataset of pseudo result type 'training'."""
    import xarray as xr

    from eqt_model import modelfile
    from . import plots

    training = modelfile.load(path)[2]
    history = training.get("history")
    if not isinstance(history, list) or not history or not all(isinstance(r, dict) for r in history):
        raise InputError("an eqt model without a training history: no learning curve to draw", path)

    def numbers(key):
        try:
            return np.array([float(r.get(key, np.nan)) for r in history])
        except (TypeError, ValueError):
            raise InputError(f"training history: '{key}' is not a number in every epoch", path) from None
    epoch = numbers("epoch")
    if not np.all(np.isfinite(epoch)) or np.any(np.diff(epoch) <= 0):
        raise InputError("training history: epochs are not increasing numbers", path)
    stage, total = training.get("epochs"), training.get("cumulative_epochs")
    before = total - stage if all(type(v) is int for v in (stage, total)) and 0 <= stage <= total else 0
    ds = xr.Dataset(coords={"epoch": ("epoch", epoch + before, {"long_name": "epoch (all stages)"})},
                    attrs={"plot_kind": plots.TRAINING, "n_train": len(training.get("split", {}).get("train", []))
                           if isinstance(training.get("split"), dict) else 0})
    for key, (long_name, units) in LEARNING_CURVE.items():
        values = numbers(key) * 1e3
        if np.isfinite(values).any():
            ds[key] = ("epoch", values, {"long_name": long_name, "units": units})
    if not ds.data_vars:
        raise InputError(f"training history without validation errors ({', '.join(LEARNING_CURVE)})", path)
    tests = training.get("test_errors")
    for key in LEARNING_CURVE:
        value = tests.get(key) if isinstance(tests, dict) else None
        if isinstance(value, (int, float)) and np.isfinite(value):
            ds.attrs["test_" + key] = float(value) * 1e3
    return ds


def _stem(path):
    """`run.rdf.nc` -> `run.rdf`; '-' -> `stdin`."""
    return "stdin" if path == "-" else os.path.splitext(os.path.basename(path))[0] or "plot"


def _load_input(path):
    """load(path), or for '-' a result piped in on stdin (copied to a temporary file, then removed)."""
    if path != "-":
        return load(path)
    spooled = _spool_stdin("netcdf")
    try:
        return load(spooled)
    except InputError as err:
        raise InputError(err.message, "-") from None
    finally:
        os.remove(spooled)


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
@click.argument("paths", metavar="RESULT.nc|MODEL.pkl...", nargs=-1, required=True)
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
    angles, msd, rotcorr, vdos, tcf, angmom, rotvar, eval, opt) overlaid with a legend, eqt
    MD trajectories (conserved-energy drift in meV/atom and temperature against time), or the
    learning curves of eqt models (MODEL.pkl: validation errors per epoch, the held-out test
    errors as stars; stages of one training, given in order, continue each other). Units on
    every axis, error bands from the results' standard errors; spectra in cm^-1 on a log scale
    where they span decades; orientation maps F = -ln P on a diverging scale (two maps: also
    their difference); rotational errors log-log against the grid's number of rotations.
    '-' reads one result from standard input (then -o is needed).

    \b
    Examples:
      eqt-plot water64_tip3p.rdf.nc                            # -> water64_tip3p.rdf.png
      eqt-plot plain.rdf.nc mts.rdf.nc --label plain --label MTS -o rdf.pdf
      eqt-plot plain.nc random.nc -o drift.svg                 # MD trajectories: drift, T
      eqt-plot model.pkl model-stage2.pkl -o learning.png      # learning curves
      eqt-rdf traj.nc -o - | eqt-plot - -o rdf.png             # a result from a pipe
    """
    from . import plots

    if labels and len(labels) != len(paths):
        raise InputError(f"{len(labels)} --label for {len(paths)} inputs; give one --label per input")
    if "-" in paths and (paths.count("-") > 1 or not output):
        raise InputError("standard input can be read once, and only with -o FIGURE" if paths.count("-") > 1
                         else "a result read from standard input needs -o FIGURE", "-")
    chosen = output or _stem(paths[0]) + ".png"
    fmt = plots.suffix_format(chosen)
    default = None if output or (os.path.isfile(chosen) and _same_plot(chosen, list(paths))) else "-o"
    target = claim({"-o": chosen}, list(paths), command="eqt-plot", default=default)["-o"]
    datasets = [_load_input(p) for p in paths]
    plots.check_drawable(datasets, paths)
    metadata = {"eqt_command": "eqt-plot", "eqt_sources": outputs.source_ids(list(paths)),
                "command": command_line()}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_output(target, "." + fmt))
        names = labels or ([_stem(p) for p in paths] if len(paths) > 1 else [None])  # one input: no legend prefix
        plots.draw(datasets, names, tmp, fmt, metadata, names=list(paths))
