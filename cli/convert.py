"""eqt-convert: any trajectory -> eqt NetCDF (or extxyz), streaming frame chunks."""
import sys

import click
from tqdm import tqdm

from eqt_analysis import io, molecules
from eqt_analysis.errors import InputError
from eqt_analysis.io import ipi

from .common import (atomic_output, claim, command, command_line, eqt_command, format_option, frame_selection_options,
                     frames_total, quiet_option, read_chunks, topology_option, units_option)


@eqt_command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.argument("output")
@format_option
@click.option("--to", "out_fmt", type=click.Choice(["netcdf", "extxyz"]), default=None,
              help="Output format. Default: from OUTPUT's extension (.nc or .xyz); needed for '-'.")
@topology_option
@units_option
@click.option("--properties", "-p", "properties", multiple=True, type=click.Path(dir_okay=False),
              help="i-PI property file (.out) whose columns become per-frame variables; repeatable.")
@click.option("--properties-join", type=click.Choice(["auto", "step", "order"]), default="auto",
              show_default=True, help="Match property rows to frames by step or by order.")
@click.option("--properties-skip", type=click.IntRange(min=0), default=0, show_default=True,
              help="Property rows to skip first in 'order' mode (1 for i-PI replays, whose first "
                   "row is the start structure).")
@frame_selection_options
@click.option("--float64", is_flag=True, help="Store coordinates, velocities, forces in double precision "
                                                "(exact round trip; default float32 as AMBER).")
@click.option("--no-molecules", is_flag=True, help="Do not assign the molecule index from bonds.")
@click.option("--chunk", type=click.IntRange(min=1), default=256, show_default=True,
              help="Frames held in memory at a time.")
@quiet_option
@command
def main(inputs, output, fmt, out_fmt, topology, units, properties, properties_join,
         properties_skip, start, stop, stride, float64, no_molecules, chunk, quiet):
    """Convert INPUT (several i-PI files of one run are merged) to OUTPUT.

    \b
    Reads extxyz/xyz (ASE conventions: positions Å, energies eV, forces eV/Å, momenta and
    info['time'] in ASE units unless the comment line says time_units=fs|ps, velocity_units=
    Angstrom/fs, ...), i-PI xyz (units from the {unit} tags), eqt/AMBER NetCDF, and every
    format MDAnalysis reads (DCD, XTC, TRR, LAMMPS dump, PDB, GRO, NCDF, ... with --topology).
    Writes AMBER NetCDF (.nc: Å, ps, Å/ps, kcal/mol/Å on disk, readable by MDAnalysis,
    cpptraj, VMD) or extxyz (.xyz). Use '-' for stdin/stdout with --format/--to.

    \b
    Examples:
      eqt-convert traj.xyz traj.nc
      eqt-convert sim.pos_0.xyz sim.vel_0.xyz sim.for_0.xyz -p sim.out run.nc
      eqt-convert md.dcd -t water.psf --stride 10 md.nc
      cat traj.xyz | eqt-convert -f extxyz - --to netcdf - | eqt-info -f netcdf -
    """
    if output == "-" and not out_fmt:
        raise InputError("writing to stdout needs --to")
    out_fmt = io.writer_format(output, out_fmt)
    target = claim({"OUTPUT": output}, [*inputs, topology, *properties])["OUTPUT"]
    joiners = [ipi.PropertyJoiner(ipi.read_properties(p), p, properties_join, properties_skip)
               for p in properties]
    chunks = read_chunks(inputs, fmt, topology, units, start, stop, stride, chunk)
    suffix = ".nc" if out_fmt == "netcdf" else ".xyz"
    with atomic_output(target, suffix) as tmp, \
            io.open_writer(tmp, out_fmt, float64=float64, history=command_line()) as writer, \
            tqdm(total=frames_total(inputs, fmt, start, stop, stride), unit="frame", disable=quiet, file=sys.stderr,
                 desc="convert") as bar:
        tree, n_frames = None, 0
        for ds in chunks:
            if not no_molecules and "molecule" not in ds:
                if tree is None:
                    tree = _molecules(ds)
                ds["molecule"] = ("atom", tree)
                ds["molecule"].attrs["long_name"] = "molecule index"
            for join in joiners:
                ds = join(ds)
            writer.write(ds)
            n_frames += ds.sizes["frame"]
            bar.update(ds.sizes["frame"])
        if n_frames == 0:
            raise InputError("no frames selected", inputs[0])
        for join in joiners:
            join.finish()


def _molecules(ds):
    cell = ds["cell"].values[0] if "cell" in ds else None
    return molecules.assign(ds["atomic_number"].values, ds["positions"].values[0], cell,
                            ds["pbc"].values)
