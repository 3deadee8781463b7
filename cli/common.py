"""What every eqt command shares: error mapping, warnings, atomic outputs, common options."""
import atexit
import contextlib
import dataclasses
import functools
import gc
import importlib
import itertools
import os
import math
import shlex
import signal
import sys
import warnings

import click
import numpy as np

from eqt_analysis.errors import InputError
from eqt_analysis.trajectory import EqtWarning

from . import AS_COMMAND, outputs
from .outputs import atomic_output, claim  # noqa: F401  (the commands import them from here)


class _BadUsage(click.ClickException):
    """A usage error shown as one line: `Error: <problem> (see 'PROG --help')`."""

    exit_code = 2

    def __init__(self, message, prog):
        super().__init__(message)
        self.prog = prog

    def show(self, file=None):
        click.echo(f"Error: {self.format_message()} (see '{self.prog} --help')", err=True)


class EqtCommand(click.Command):
    """A click command whose usage errors are one line on stderr with exit code 2."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as err:
            raise _BadUsage(err.format_message(), info_name or self.name) from None


def eqt_command(**kwargs):
    """`@click.command` for eqt: one-line usage errors, -h/--help."""
    return click.command(cls=EqtCommand, context_settings={"help_option_names": ["-h", "--help"]}, **kwargs)


def _freeze_imports():
    """Start-up of an eqt-* process (AS_COMMAND): it imports ~10^5 long-lived objects (numpy,
    numba, xarray). Moved out of the collector's reach (`gc.freeze`) before the command runs and
    again when the process ends, no collection walks them again: ~0.2 s less per command
    (benchmarks/bench_structure.py, part 5). Objects created later are collected as usual.
    A command called in process (CliRunner, a notebook) leaves the caller's collector alone."""
    if AS_COMMAND and not _freeze_imports.done:
        _freeze_imports.done = True
        gc.freeze()
        gc.enable()
        atexit.register(gc.freeze)


_freeze_imports.done = False


def command(func):
    """Run a command body: InputError -> one line on stderr and exit code 2; eqt warnings
    -> one line each on stderr; SIGTERM/SIGHUP/SIGINT -> cleanups run, one line, exit 128 +
    signal number. Anything else is an internal error (exit code 1)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _freeze_imports()
        def show(message, category, *_args, **_kwargs):
            click.echo(f"warning: {_as_typed(str(message))}", err=True)

        with warnings.catch_warnings(), outputs.signals_as_exceptions():
            warnings.simplefilter("always", EqtWarning)
            warnings.showwarning = show
            try:
                return func(*args, **kwargs)
            except InputError as err:
                click.echo(f"Error: {_as_typed(str(err))}", err=True)
                raise click.exceptions.Exit(2) from None
            except OSError as err:
                if not outputs.is_out_of_space(err):
                    raise
                where = f"{_as_typed(err.filename)}: " if err.filename else ""
                click.echo(f"Error: {where}{err.strerror or 'no space left on device'}"
                           f"{'; no output written' if getattr(err, 'nothing_written', False) else ''}", err=True)
                raise click.exceptions.Exit(1) from None
            except (outputs.Interrupted, KeyboardInterrupt) as err:
                signum = getattr(err, "signum", signal.SIGINT)
                click.echo(f"Error: interrupted by {signal.Signals(signum).name}; no output written", err=True)
                raise click.exceptions.Exit(128 + signum) from None

    return wrapper


_STDIN_COPIES = set()  # temporary files holding standard input (_spool_stdin)


def _as_typed(text):
    """A message with the temporary copies of standard input named as the user typed them: '-'."""
    for path in _STDIN_COPIES:
        text = text.replace(path, "-")
    return text


def command_line():
    """The command as typed, for the `history` attribute of outputs."""
    return " ".join(shlex.quote(a) for a in [os.path.basename(sys.argv[0])] + sys.argv[1:])


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
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the table on stdout as JSON (machine-readable) instead of text.")
block_frames_option = click.option(
    "--block-frames", type=click.IntRange(min=1), default=None, metavar="N",
    help="Frames per block for the standard errors. Default: automatic (32 to 64 blocks).")
blocks_option = click.option(
    "--blocks", type=click.IntRange(min=2), default=5, show_default=True, metavar="N",
    help="Number of blocks of consecutive frames for the standard errors.")


def output_option(what="Result file (NetCDF)", default="the input's name with .<command>.nc in the current folder"):
    """-o/--output of a command that writes one file."""
    return click.option("--output", "-o", default=None, metavar="PATH",
                        help=f"{what}. Default: {default} (never replacing another input's result); '-' = stdout.")


_frames = [
    click.option("--start", type=click.IntRange(min=0), default=0, show_default=True,
                 help="First frame (0-based)."),
    click.option("--stop", type=click.IntRange(min=0), default=None, help="Stop before this frame."),
    click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Use every n-th frame."),
]
_selection = [format_option, topology_option, units_option] + _frames


def frame_selection_options(func):
    """--start/--stop/--stride alone (for inputs that are not trajectory files)."""
    return _apply(_frames, func)


def _apply(options, func):
    for option in reversed(options):
        func = option(func)
    return func


def trajectory_options(func):
    """Options of the commands that stream a trajectory frame chunk by frame chunk."""
    return _apply(_selection + [click.option(
        "--chunk", type=click.IntRange(min=1), default=256, show_default=True,
        help="Frames held in memory at a time.")], func)


def selection_options(func):
    """Input and frame selection options of a command that loads its whole selection (eqt-angmom)."""
    return _apply(_selection, func)


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
                paths[k] = _spool_stdin(fmt)
                spooled.append(paths[k])
        yield from io.iter_trajectory(paths, fmt, topology, units, chunk, start, stop, stride)
    finally:
        for path in spooled:
            os.remove(path)


def trajectories(paths):
    """The TRAJ arguments of a command as files, in order: each path, or the matches of a glob
    pattern (*, ?, [) that is not itself a file, sorted by name (run10 before run2). InputError
    for a pattern matching nothing, or a file (or '-', stdin) given twice."""
    import glob

    out = []
    for path in paths:
        if path != "-" and not os.path.lexists(path) and glob.has_magic(path):
            matches = sorted(glob.glob(path))
            if not matches:
                raise InputError("matches no file", path)
            out.extend(matches)
        else:
            out.append(path)
    if out.count("-") > 1:
        raise InputError("standard input ('-') can be read once only")
    seen = {}
    for path in out:
        real = os.path.realpath(path) if path != "-" else path
        if real in seen:
            raise InputError(f"given twice (also as {seen[real]}): each run counts once", path)
        seen[real] = path
    return out


def read_runs(paths, fmt, topology, units, start=0, stop=None, stride=1, chunk=256):
    """Stream several trajectories (runs, e.g. parallel MD runs of one system) one after the
    other, each as read_chunks streams one, the frame selection applied to each; yields
    (run index, chunk). Every run must hold the same atoms as the first (atomic numbers in
    the same order), else InputError naming it."""
    first = None
    for k, path in enumerate(paths):
        checked = False
        for ds in read_chunks(path, fmt, topology, units, start, stop, stride, chunk):
            if not checked:
                numbers = ds["atomic_number"].values
                if first is None:
                    first = numbers
                check_same_atoms(first, numbers, paths[0], path)
                checked = True
            yield k, ds


def frames_total(paths, fmt=None, start=0, stop=None, stride=1):
    """The selected frames of the runs `paths` when every one is a NetCDF file (its header says:
    a progress bar's total), else None (counting text formats would read them twice)."""
    from eqt_analysis import io

    total = 0
    for path in [paths] if isinstance(paths, str) else paths:
        if (fmt or "netcdf") != "netcdf" or path == "-" or io._suffix(path) not in io.NETCDF_EXT:
            return None
        try:
            n = io.count_frames(path, "netcdf")
        except (InputError, OSError, ValueError):
            return None  # the reader says what is wrong
        total += len(range(start, n if stop is None else min(stop, n), stride))
    return total


def check_same_atoms(first, numbers, first_path, path):
    """InputError (naming `path`) unless the atomic numbers of a run equal those of the first run."""
    if len(numbers) != len(first) or (numbers != first).any():
        if len(numbers) != len(first):
            what = f"{len(numbers)} atoms against {len(first)} in {first_path}"
        else:
            k = int(np.flatnonzero(numbers != first)[0])
            what = f"atom {k} has atomic number {numbers[k]}, {first[k]} in {first_path}"
        raise InputError(f"not the atoms of the first run ({what}): runs analysed together must be one system, "
                         "atoms in the same order", path)


def runs_argument(func):
    """The TRAJ... argument of the analyses: one trajectory or several runs of one system."""
    return click.argument("paths", metavar="TRAJ...", nargs=-1, required=True)(func)


def _spool_stdin(fmt):
    """Copy standard input to a temporary file (formats need seeking); the caller removes it."""
    if not fmt:
        raise InputError("reading stdin needs --format", "-")
    if sys.stdin is None:
        raise InputError("standard input is closed", "-")
    folder = outputs.tempfile.gettempdir()
    outputs.remove_stale_temporaries(folder)
    tmp = outputs.temporary_file(folder, STDIN_SUFFIX.get(fmt, "." + fmt.lower()))
    _STDIN_COPIES.add(tmp)
    try:
        with open(tmp, "wb") as handle:
            outputs.shutil.copyfileobj(getattr(sys.stdin, "buffer", sys.stdin), handle)
    except BaseException:
        os.remove(tmp)
        raise
    return tmp


STDIN_SUFFIX = {"netcdf": ".nc", "extxyz": ".xyz", "ipi": ".xyz", "ipi-properties": ".out"}


def result_options(func):
    """-o/--output, --dat and --plot of the analysis commands."""
    return _apply([
        click.option("--output", "-o", default=None, metavar="PATH",
                     help="Result file (NetCDF). Default: the input's name with .<command>.nc in the "
                          "current folder (never replacing another input's result); '-' = stdout."),
        click.option("--dat", default=None, metavar="PATH",
                     help="Also write the curves as a whitespace text table."),
        click.option("--plot", default=None, metavar="PATH",
                     help="Also draw the result to this figure: PDF or SVG for a .pdf or .svg name, else PNG."),
    ], func)


class FiniteFloat(click.FloatRange):
    """A float option that refuses NaN and infinities (and values outside min/max)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        if not math.isfinite(value):
            self.fail(f"{value} is not a finite number", param, ctx)
        return value


FINITE = FiniteFloat()
POSITIVE = FiniteFloat(min=0, min_open=True)
NON_NEGATIVE = FiniteFloat(min=0)

max_lag_option = click.option(  # of the spectra (eqt-vdos, eqt-tcf)
    "--max-lag", type=POSITIVE, default=None, metavar="PS",
    help="Correlation window (ps): the spectrum from the correlation up to this lag only (--window over it; "
         "resolution ~1/max-lag), with block standard errors (Welch-Bartlett: blocks longer than it). "
         "Default: the whole run, without spectrum errors.")


@contextlib.contextmanager
def figure(path, rows=1, cols=1, size=(5.5, 4.0), fmt=None, metadata=None, **kwargs):
    """A matplotlib figure (Agg, no display) whose axes (rows x cols array; rows=0: none, the
    block adds its own) are drawn on in the block, then saved to `path` and closed. fmt: 'png',
    'pdf' or 'svg' (default: from the suffix of path, PNG when it is none of these); metadata:
    text fields stored in a PNG (tEXt chunks). A figure with a layout engine (layout=...) keeps
    it; others get tight_layout."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if fmt is None:
        ext = os.path.splitext(str(path))[1].lower().lstrip(".")
        fmt = ext if ext in ("png", "pdf", "svg") else "png"
    if rows:
        fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, **kwargs)
    else:
        fig, axes = plt.figure(figsize=size, **kwargs), None
    try:
        yield fig, axes
        if fig.get_layout_engine() is None:
            fig.tight_layout()
        info = {"png": {"Software": "eqt", **(metadata or {})}, "pdf": {"Creator": "eqt"},
                "svg": {"Creator": "eqt"}}[fmt]
        fig.savefig(path, dpi=200 if fmt == "png" else 150, format=fmt, metadata=info)
    finally:
        plt.close(fig)


def input_stem(path):
    """`run.1.nc` -> `run.1` (and `run.xyz.gz` -> `run`); '-' -> `stdin`."""
    if path == "-":
        return "stdin"
    stem, ext = os.path.splitext(os.path.basename(path))
    if ext.lower() in (".gz", ".bz2", ".xz"):
        stem = os.path.splitext(stem)[0]
    return stem or "out"


def default_output(path, suffix):
    """`run.1.nc` -> `run.1.<suffix>.nc` in the current folder ('-' -> `stdin.<suffix>.nc`)."""
    return f"{input_stem(path)}.{suffix}.nc"


def check_netcdf_name(path, option="-o"):
    """InputError when `path` ends like a text or trajectory format that is not NetCDF (.xyz, .pdb, .dcd, ...):
    eqt would write NetCDF there, which every reader (eqt's too) would then take for that format."""
    from eqt_analysis.io import MDA_EXT, XYZ_EXT, _suffix

    if path != "-" and _suffix(path) in XYZ_EXT | MDA_EXT:
        raise InputError(f"{option} ends in {_suffix(path)}, but this output is NetCDF: give a .nc name", path)


def claim_result(inputs, name, output=None, dat=None, plot=None, command=None, default=None):
    """Check the outputs of an analysis before any work (cli.outputs rules): the NetCDF result
    (`output`, or the `default` name, else one derived from the first input and `name`), --dat and
    --plot. `command` (default eqt-<name>) is recorded in the result."""
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    command = command or f"eqt-{name}"
    chosen = output or default or default_output(inputs[0], name)
    check_netcdf_name(chosen)
    targets = claim({"-o": chosen, "--dat": dat, "--plot": plot}, inputs, command=command,
                    default=None if output else "-o")
    return Result(targets["-o"], targets["--dat"], targets["--plot"], inputs, command)


@dataclasses.dataclass(frozen=True)
class Result:
    """Where an analysis writes: checked Targets of the NetCDF result, table and PNG."""

    output: outputs.Target
    dat: outputs.Target | None
    plot: outputs.Target | None
    inputs: list
    command: str


def write_result(ds, where, draw=None, table_dim=None):
    """Write an analysis Dataset atomically (NetCDF-4), plus the optional text table and PNG,
    to the Targets of `where` (from claim_result): all files appear together, or none."""
    from eqt_analysis import __version__

    ds.attrs.update(command=command_line(), inputs=" ".join(str(p) for p in where.inputs),
                    eqt_version=__version__, eqt_command=where.command,
                    eqt_sources=outputs.source_ids(where.inputs))
    growth = ds.attrs.get("error_growth_2x", float("nan"))
    if growth > 1.2:
        click.echo(f"warning: block errors not converged: doubling the block length raises them "
                   f"{growth:.2f}x (frames are correlated beyond a block); use longer blocks (a larger "
                   "--block-frames) or a longer trajectory", err=True)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_output(where.output, ".nc"))
        tmp_dat = stack.enter_context(atomic_output(where.dat, ".dat")) if where.dat else None
        suffix = os.path.splitext(where.plot.path)[1].lower() if where.plot else ""  # figure() draws by suffix
        tmp_png = stack.enter_context(atomic_output(where.plot, suffix if suffix in (".pdf", ".svg") else ".png")) \
            if where.plot else None
        ds.to_netcdf(tmp)
        if tmp_dat:
            write_table(ds, tmp_dat, table_dim)
        if tmp_png:
            draw(ds, tmp_png)


def write_table(ds, path, dim=None):
    """The variables along dimension `dim` (default: the first) as columns of a text table: a
    1-D variable is one column `name[units]`, a variable with more dimensions one column per
    label of the others, `name[label][label2][units]` (e.g. `Q[O-O][l=2][1]`); the attributes
    go to the header."""
    dim = dim or next(iter(ds.dims))
    columns, header = [], []
    first = [dim] if dim in ds.coords else []  # the x values first, as gnuplot and xmgrace read a table
    for name in first + [n for n in ds.variables if n not in first]:
        var = ds[name]
        if dim not in var.dims or var.dtype.kind not in "biuf":
            continue
        units = var.attrs.get("units", "")
        others = [d for d in var.dims if d != dim]
        labels = [[f"{d}={v}" if np.issubdtype(np.asarray(v).dtype, np.number) else str(v)
                   for v in (ds[d].values if d in ds.coords else range(var.sizes[d]))] for d in others]
        for index in itertools.product(*(range(len(lab)) for lab in labels)):
            columns.append(var.isel(dict(zip(others, index))).transpose(dim).values)
            header.append(name + "".join(f"[{lab[k]}]" for lab, k in zip(labels, index)) + f"[{units}]")
    meta = "\n".join(f"{k}: {v}" for k, v in ds.attrs.items())
    np.savetxt(path, np.column_stack(columns), header=meta + "\n" + " ".join(header), fmt="%.10g")


@contextlib.contextmanager
def whole_trajectory(path, fmt, topology, units, start=0, stop=None, stride=1):
    """The trajectory as one Dataset (lazy for eqt .nc: atoms are then read chunk by chunk;
    other formats are loaded whole), with the frame selection applied."""
    from eqt_analysis import io

    with readable(path, fmt) as path:
        yield io.open_trajectory(path, fmt, topology, units, start=start, stop=stop, stride=stride)


@contextlib.contextmanager
def readable(path, fmt):
    """`path`, or for '-' a temporary copy of standard input (needs --format), removed at the end."""
    spooled = None
    try:
        if path == "-":
            spooled = path = _spool_stdin(fmt)
        yield path
    finally:
        if spooled:
            os.remove(spooled)


@contextlib.contextmanager
def whole_runs(paths, fmt, topology, units, start=0, stop=None, stride=1):
    """whole_trajectory of every path (runs of one system): a list of Datasets; InputError
    for a run whose atoms differ from the first's."""
    with contextlib.ExitStack() as stack:
        runs = []
        for path in paths:
            ds = stack.enter_context(whole_trajectory(path, fmt, topology, units, start, stop, stride))
            if runs:
                check_same_atoms(runs[0]["atomic_number"].values, ds["atomic_number"].values, paths[0], path)
            runs.append(ds)
        yield runs


def ase_calculator(spec):
    """The ASE calculator that `module:factory` (--calculator) builds; any failure is bad input (exit 2)."""
    module, _, factory = spec.partition(":")
    if not module or not factory:
        raise InputError(f"--calculator must look like module:factory, got {spec!r}")
    try:
        calc = getattr(importlib.import_module(module), factory)()
    except Exception as err:  # any failure of the user's factory is bad input here
        raise InputError(f"cannot build the calculator {spec}: {type(err).__name__}: {err}") from None
    if not callable(getattr(calc, "get_potential_energy", None)) or not callable(getattr(calc, "get_forces", None)):
        raise InputError(f"--calculator {spec} returned a {type(calc).__name__}, not an ASE calculator")
    return calc


def model_options(verb, random_help, float64_help="(default: float32)", memory_help=""):
    """--average GRID, --random-rotation, --float64, --seed and --memory MB of the commands that use a model.
    verb: what the command does with the model ('Evaluate', 'Serve', 'Relax')."""
    from eqt_model.rotations import GridType

    return lambda func: _apply([
        click.option("--average", type=GridType(), default=None, metavar="GRID",
                     help=f"{verb} with the model averaged over a rotation grid: 1 (plain), i, 2, 2i, 3, 3i, "
                          "L<order>[i], lebedev<N>[i]."),
        click.option("--random-rotation", is_flag=True, help=f"{verb} with a fresh random rotation {random_help}."),
        click.option("--float64", is_flag=True, help=f"Evaluate in double precision {float64_help}."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --random-rotation rotations."),
        click.option("--memory", type=click.IntRange(min=16), default=1024, show_default=True, metavar="MB",
                     help="Work space of an averaged evaluation: structures under 192 atoms evaluate as many rotations "
                          "at a time as fit it (larger ones one at a time)"
                          + (f" ({memory_help})" if memory_help else "") + "."),
    ], func)
