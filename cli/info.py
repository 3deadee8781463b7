"""eqt-info: what a trajectory holds (frames, atoms, composition, time step, cell, variables), or what an eqt
result or model file is."""
import json
import os
import sys

import click
from tqdm import tqdm

from eqt_analysis.summary import as_text, summarize

from .common import (command, eqt_command, format_option, frames_total, json_option, quiet_option, read_chunks,
                     topology_option, units_option)


@eqt_command()
@click.argument("path", metavar="FILE")
@format_option
@topology_option
@units_option
@json_option
@quiet_option
@command
def main(path, fmt, topology, units, as_json, quiet):
    """Describe the trajectory FILE: frames, atoms, composition, molecules, time step (ps),
    cell type and size (Å), and every variable with its units. '-' reads stdin (with --format).
    The whole file is read (memory flat in its length); the progress bar goes to stderr.
    An eqt result (.nc with a result_type) is described by its variables, units, values and
    attributes; an eqt model (MODEL.pkl) by its architecture, parameters and training record.

    \b
    Examples:
      eqt-info example_data/water64_tip3p.nc --json
      eqt-info water64_tip3p.rdf.nc
      eqt-info example_data/model.pkl
    """
    kind = "trajectory" if path == "-" or fmt or topology else _kind(path)
    if kind == "model":
        from eqt_model.modelfile import describe, describe_as_text

        info = describe(path)
        click.echo(json.dumps(info, indent=2) if as_json else describe_as_text(info))
        return
    if kind == "result":
        from eqt_analysis import results
        from eqt_analysis.summary import describe_result, result_as_text

        info = describe_result(results.load(path))
        click.echo(json.dumps(info, indent=2, default=str) if as_json else result_as_text(path, info))
        return
    with tqdm(total=frames_total(path, fmt), unit="frame", disable=quiet, file=sys.stderr, desc="info") as bar:
        info = summarize(counted(read_chunks(path, fmt, topology, units), bar), path)
    click.echo(json.dumps(info, indent=2) if as_json else as_text(path, info))


def _kind(path):
    """'model' (a pickle), 'result' (NetCDF with a result_type attribute) or 'trajectory' (anything else:
    the trajectory readers judge it)."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(8)
    except OSError:
        return "trajectory"
    if magic.startswith(b"\x80"):
        return "model"
    if magic.startswith(b"\x89HDF") and os.path.getsize(path) > 0:
        import netCDF4

        try:
            with netCDF4.Dataset(path) as nc:
                return "result" if "result_type" in nc.ncattrs() else "trajectory"
        except OSError:
            return "trajectory"
    return "trajectory"


def counted(chunks, bar):
    """The chunks, each counted on the progress bar as it passes."""
    for ds in chunks:
        bar.update(ds.sizes["frame"])
        yield ds
