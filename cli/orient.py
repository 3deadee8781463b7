"""eqt-orient: lab-frame distribution of water dipole directions, and an isotropy verdict."""
import sys

import click
import xarray as xr
from tqdm import tqdm

from eqt_analysis import molecules
from eqt_analysis.errors import InputError
from eqt_analysis.orient import Orientation, memory_needed, molecule_angles
from eqt_analysis.resources import check_memory

from .common import (figure, command, claim_result, eqt_command, POSITIVE, result_options, quiet_option, read_chunks,
                     trajectory_options, write_result)


@eqt_command()
@click.argument("path", metavar="TRAJ")
@trajectory_options
@click.option("--bandwidth", type=POSITIVE, default=0.1, show_default=True,
              help="Kernel width in cos θ; the width in φ is π times it (radian).")
@click.option("--grid", type=(click.IntRange(min=2), click.IntRange(min=2)), default=(50, 100),
              show_default=True, metavar="NCOS NPHI", help="Grid points in cos θ and φ.")
@click.option("--cells", type=(click.IntRange(min=1), click.IntRange(min=1)), default=(4, 8),
              show_default=True, metavar="NCOS NPHI", help="Coarse equal-area cells for the chi-square.")
@click.option("--block", type=click.IntRange(min=1), default=None, metavar="N",
              help="Frames per block for standard errors. Default: automatic (32 to 64 blocks).")
@click.option("--per-molecule", is_flag=True,
              help="Write θ, φ of every molecule in every frame instead of the distribution.")
@result_options
@quiet_option
@command
def main(path, fmt, topology, units, start, stop, stride, chunk, bandwidth, grid, cells, block,
         per_molecule, output, dat, plot, quiet):
    """Distribution P(cos θ, φ) of water dipole axes (H-H midpoint minus O) in the lab frame of
    TRAJ, scaled so that an isotropic sample gives P = 1, its free energy F = -ln P (kT), block
    standard errors, and a verdict on stderr: chi-square of coarse-cell P against 1 with its
    p-value, max and RMS of |F|. Works for one gas-phase molecule or a bulk liquid.

    \b
    Examples:
      eqt-orient traj.nc --plot orient.png        # -> traj.orient.nc
      eqt-orient gas.nc --per-molecule -o angles.nc
    """
    if per_molecule and (dat or plot):
        raise InputError("--per-molecule writes a (frame, molecule) table: no --dat or --plot")
    where = claim_result(path, "angles" if per_molecule else "orient", output, dat, plot)
    check_memory(memory_needed(1, *grid, cells), f"--grid {grid[0]} {grid[1]}")  # before reading
    calc, waters, tables = None, None, []
    with tqdm(unit="frame", disable=quiet, file=sys.stderr, desc="orient") as bar:
        for ds in read_chunks(path, fmt, topology, units, start, stop, stride, chunk):
            if waters is None:
                waters = molecules.find_waters(ds["atomic_number"].values, ds["positions"].values[0],
                                               ds["cell"].values[0] if "cell" in ds else None, ds["pbc"].values)
                if len(waters) == 0:
                    raise InputError("no water molecules (an O with its two nearest H) found", path)
                calc = Orientation(waters, grid[0], grid[1], bandwidth, cells, block, path)
            if per_molecule:
                tables.append(molecule_angles(ds, waters))
            else:
                calc.add_chunk(ds)
            bar.update(ds.sizes["frame"])
    if per_molecule:
        result = xr.concat(tables, dim="frame")
        write_result(result, where)
        return
    result = calc.result()
    a = result.attrs
    isotropic = a["p_value"] >= 0.01
    click.echo(f"{'isotropic within errors' if isotropic else 'NOT isotropic'}: chi2 = {a['chi2']:.4g} "
               f"for {a['dof']} dof, p = {a['p_value']:.3g}; max |F| = {a['max_abs_F']:.3g} kT, "
               f"rms F = {a['rms_F']:.3g} kT ({a['n_samples']} samples, {a['n_blocks']} blocks)", err=True)
    write_result(result, where, draw)


def draw(ds, path):
    """-ln P map over (φ, cos θ)."""
    limit = max(0.05, ds.attrs["max_abs_F"])
    with figure(path, size=(7, 3.6)) as (fig, axes):
        ax = axes[0, 0]
        mesh = ax.pcolormesh(ds["phi"].values, ds["cos_theta"].values, ds["F"].values, cmap="RdBu_r",
                             vmin=-limit, vmax=limit, shading="nearest")
        fig.colorbar(mesh, ax=ax, label="F = -ln P (kT)")
        ax.set(xlabel="φ (rad)", ylabel="cos θ",
               title=f"dipole directions: chi2/dof = {ds.attrs['chi2']:.3g}/{ds.attrs['dof']}, "
                     f"p = {ds.attrs['p_value']:.2g}")
