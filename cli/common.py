"""What every eqt command shares: error mapping, warnings, atomic outputs, common options."""
import contextlib
import functools
import os
import shlex
import shutil
import sys
import tempfile
import warnings

import click

from eqt_analysis.errors import InputError
from eqt_analysis.trajectory import EqtWarning


def command(func):
    """Run a command body: InputError -> one line on stderr and exit code 2; eqt warnings
    -> one line each on stderr. Anything else is an internal error (exit code 1)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        def show(message, category, *_args, **_kwargs):
            click.echo(f"warning: {message}", err=True)

        with warnings.catch_warnings():
            warnings.simplefilter("always", EqtWarning)
            warnings.showwarning = show
            try:
                return func(*args, **kwargs)
            except InputError as err:
                click.echo(f"Error: {err}", err=True)
                raise click.exceptions.Exit(2) from None

    return wrapper


def command_line():
    """The command as typed, for the `history` attribute of outputs."""
    return " ".join(shlex.quote(a) for a in [os.path.basename(sys.argv[0])] + sys.argv[1:])


@contextlib.contextmanager
def atomic_output(path, suffix=""):
    """Yield a temporary path; on success move it to `path` ('-': copy to stdout), on failure
    delete it, so a failed command never leaves a file that looks complete."""
    directory = None if path == "-" else (os.path.dirname(os.path.abspath(path)) or ".")
    if directory is not None and not os.path.isdir(directory):
        raise InputError("output directory does not exist", path)
    fd, tmp = tempfile.mkstemp(suffix=suffix or os.path.splitext(path)[1], prefix=".eqt-",
                               dir=directory)
    os.close(fd)
    try:
        yield tmp
        if path == "-":
            with open(tmp, "rb") as handle:
                shutil.copyfileobj(handle, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it private; give it the usual mode
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


format_option = click.option(
    "--format", "-f", "fmt", default=None, metavar="FORMAT",
    help="Input format: netcdf, extxyz, ipi, mdanalysis, or an MDAnalysis format name "
         "(DCD, XTC, LAMMPSDUMP, ...). Default: from the extension; needed for '-'.")
topology_option = click.option(
    "--topology", "-t", default=None, type=click.Path(dir_okay=False),
    help="Topology for MDAnalysis formats (PSF, TPR, GRO, PDB, prmtop, LAMMPS data).")
units_option = click.option(
    "--units", default=None, metavar="UNIT",
    help="Unit of an i-PI xyz file that has no {unit} tag (atomic_unit or angstrom). "
         "Refused when it contradicts a tag.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")


_selection = [
    format_option, topology_option, units_option,
    click.option("--start", type=click.IntRange(min=0), default=0, show_default=True,
                 help="First frame (0-based)."),
    click.option("--stop", type=click.IntRange(min=0), default=None, help="Stop before this frame."),
    click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Use every n-th frame."),
]


def _apply(options, func):
    for option in reversed(options):
        func = option(func)
    return func


def trajectory_options(func):
    """Options of the commands that stream a trajectory frame chunk by frame chunk."""
    return _apply(_selection + [click.option(
        "--chunk", type=click.IntRange(min=1), default=256, show_default=True,
        help="Frames held in memory at a time.")], func)


def whole_trajectory_options(func):
    """Options of the commands that need every frame of an atom at once (time correlations)."""
    return _apply(_selection + [click.option(
        "--memory", type=click.IntRange(min=16), default=1024, show_default=True, metavar="MB",
        help="Memory budget: atoms are processed in chunks that fit it (eqt .nc inputs are read "
             "chunk by chunk; other formats are loaded whole).")], func)


def atoms_per_chunk(n_frames, memory_mb):
    """Atoms whose whole time series (and its FFT work space, ~8x) fit in memory_mb."""
    return max(16, int(memory_mb * 2**20 / (n_frames * 3 * 8 * 8)))


def read_chunks(paths, fmt, topology, units, start=0, stop=None, stride=1, chunk=256):
    """Stream the trajectory `paths` (one path, or several i-PI files of one run); '-' spools
    stdin to a temporary file first (needs --format), removed when the stream ends."""
    from eqt_analysis import io

    paths = [paths] if isinstance(paths, str) else list(paths)
    spooled = []
    try:
        for k, path in enumerate(paths):
            if path == "-":
                if not fmt:
                    raise InputError("reading stdin needs --format")
                paths[k] = io.spool_stdin(sys.stdin.buffer, STDIN_SUFFIX.get(fmt, "." + fmt.lower()))
                spooled.append(paths[k])
        yield from io.iter_trajectory(paths, fmt, topology, units, chunk, start, stop, stride)
    finally:
        for path in spooled:
            os.remove(path)


STDIN_SUFFIX = {"netcdf": ".nc", "extxyz": ".xyz", "ipi": ".xyz"}


def result_options(func):
    """-o/--output, --dat and --plot of the analysis commands."""
    return _apply([
        click.option("--output", "-o", default=None, metavar="PATH",
                     help="Result file (NetCDF). Default: derived from the input name; '-' = stdout."),
        click.option("--dat", default=None, type=click.Path(dir_okay=False),
                     help="Also write the curves as a whitespace text table."),
        click.option("--plot", default=None, type=click.Path(dir_okay=False),
                     help="Also draw the result to this PNG file."),
    ], func)


@contextlib.contextmanager
def figure(path, rows=1, cols=1, size=(5.5, 4.0), **kwargs):
    """A matplotlib figure (Agg, no display) whose axes (rows x cols array) are drawn on in the
    block, then saved to `path` as PNG and closed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, **kwargs)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, dpi=120, format="png")
    finally:
        plt.close(fig)


def default_output(path, suffix):
    """`traj.nc` -> `traj.<suffix>.nc` in the current directory ('-' -> `stdin.<suffix>.nc`)."""
    stem = "stdin" if path == "-" else os.path.basename(path).split(".")[0]
    return f"{stem}.{suffix}.nc"


def write_result(ds, output, inputs, dat=None, plot=None, draw=None, table_dim=None):
    """Write an analysis Dataset atomically (NetCDF-4), plus optional text table and PNG."""
    from eqt_analysis import __version__

    ds.attrs.update(command=command_line(), inputs=" ".join(str(p) for p in inputs),
                    eqt_version=__version__)
    growth = ds.attrs.get("error_growth_2x", float("nan"))
    if growth > 1.2:
        click.echo(f"warning: block errors not converged: doubling the block length raises them "
                   f"{growth:.2f}x (frames are correlated beyond a block); use a larger --block or "
                   "a longer trajectory", err=True)
    with contextlib.ExitStack() as stack:  # all files appear together, or none
        tmp = stack.enter_context(atomic_output(output, ".nc"))
        tmp_dat = stack.enter_context(atomic_output(dat, ".dat")) if dat else None
        tmp_png = stack.enter_context(atomic_output(plot, ".png")) if plot else None
        ds.to_netcdf(tmp)
        if tmp_dat:
            write_table(ds, tmp_dat, table_dim)
        if tmp_png:
            draw(ds, tmp_png)


def write_table(ds, path, dim=None):
    """Every variable along the first dimension of the Dataset as columns of a text table."""
    dim = dim or next(iter(ds.dims))
    names = [n for n, v in ds.variables.items() if v.dims == (dim,)]
    header = [f"{n}[{ds[n].attrs.get('units', '')}]" for n in names]
    import numpy as np

    table = np.column_stack([ds[n].values for n in names])
    meta = "\n".join(f"{k}: {v}" for k, v in ds.attrs.items())
    np.savetxt(path, table, header=meta + "\n" + " ".join(header), fmt="%.10g")


@contextlib.contextmanager
def whole_trajectory(path, fmt, topology, units, start=0, stop=None, stride=1):
    """The trajectory as one Dataset (lazy for eqt .nc: atoms are then read chunk by chunk;
    other formats are loaded whole), with the frame selection applied."""
    from eqt_analysis import io

    spooled = None
    try:
        if path == "-":
            if not fmt:
                raise InputError("reading stdin needs --format")
            spooled = path = io.spool_stdin(sys.stdin.buffer, STDIN_SUFFIX.get(fmt, "." + fmt.lower()))
        ds = io.open_trajectory(path, fmt, topology, units)
        yield ds.isel(frame=slice(start, stop, stride))
    finally:
        if spooled:
            os.remove(spooled)
