"""eqt-info: what a trajectory holds (frames, atoms, composition, time step, cell, variables)."""
import json
import sys

import click
from tqdm import tqdm

from eqt_analysis.summary import as_text, summarize

from .common import (command, eqt_command, format_option, json_option, quiet_option, read_chunks, topology_option,
                     units_option)


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

    \b
    Example:
      eqt-info example_data/water64_tip3p.nc --json
    """
    with tqdm(unit="frame", disable=quiet, file=sys.stderr, desc="info") as bar:
        info = summarize(counted(read_chunks(path, fmt, topology, units), bar), path)
    click.echo(json.dumps(info, indent=2) if as_json else as_text(path, info))


def counted(chunks, bar):
    """The chunks, each counted on the progress bar as it passes."""
    for ds in chunks:
        bar.update(ds.sizes["frame"])
        yield ds
