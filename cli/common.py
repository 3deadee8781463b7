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
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def input_path(stream_suffix):
    """Resolve an input argument: '-' spools stdin to a temporary file with `stream_suffix`."""
    def convert(ctx, param, value):
        if value == "-":
            from eqt_analysis.io import spool_stdin
            return spool_stdin(sys.stdin.buffer, stream_suffix(ctx))
        return value
    return convert


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
