"""eqt-orient: lab-frame distribution of water dipole directions, and an isotropy verdict."""
import sys

import click
from tqdm import tqdm

from eqt_analysis.errors import InputError
from eqt_analysis.orient import Angles, Orientation, memory_needed
from eqt_analysis.resources import check_memory
from eqt_analysis.system import System

from . import parallel, plots
from .common import (command, claim_result, eqt_command, POSITIVE, block_frames_option, result_options,
                     quiet_option, runs_argument, trajectories, trajectory_options, write_result)


@eqt_command()
@runs_argument
@trajectory_options
@click.option("--bandwidth", type=POSITIVE, default=0.1, show_default=True,
              help="Kernel width in cos θ (at most 0.3).")
@click.option("--bandwidth-phi", type=POSITIVE, default=None, metavar="RAD",
              help="Kernel width in φ (radian, at most 0.3 π). Default: π times --bandwidth (the "
                   "same length on the equator). The study's estimator (Langer et al. 2024): "
                   "--bandwidth 0.1 --bandwidth-phi 0.1.")
@click.option("--grid", type=(click.IntRange(min=2), click.IntRange(min=2)), default=(50, 100),
              show_default=True, metavar="NCOS NPHI", help="Grid points in cos θ and φ.")
@click.option("--cells", type=(click.IntRange(min=1), click.IntRange(min=1)), default=(4, 8),
              show_default=True, metavar="NCOS NPHI", help="Coarse equal-area cells for the chi-square.")
@block_frames_option
@click.option("--per-molecule", is_flag=True,
              help="Write θ, φ, cos θ of every water in every frame (result type 'angles', default "
                   "name TRAJ.angles.nc) instead of the distribution.")
@parallel.options
@result_options
@quiet_option
@command
def main(paths, fmt, topology, units, start, stop, stride, chunk, bandwidth, bandwidth_phi, grid, cells,
         block_frames, per_molecule, workers, scheduler, output, dat, plot, quiet):
    """Distribution P(cos θ, φ) of water dipole axes (H-H midpoint minus O) in the lab frame of
    TRAJ, scaled so that an isotropic sample gives P = 1, its free energy F = -ln P (kT), block
    standard errors, and a verdict on stderr: chi-square of coarse-cell P against 1 with its
    p-value, max and RMS of |F|. Works for one gas-phase molecule or a bulk liquid. Result
    types 'orient' and 'angles' (docs/results.md).

    Several TRAJ (paths, or quoted globs such as 'run*/traj.nc') are runs of one system
    taken together: their frames are one stream in the order given (--start, --stop and
    --stride apply to each run; blocks are consecutive frames of that stream), and the
    default result is named after the first.

    \b
    Examples:
      eqt-orient traj.nc --plot orient.png        # -> traj.orient.nc
      eqt-orient traj.nc --bandwidth 0.1 --bandwidth-phi 0.1   # the study's kernel widths
      eqt-orient gas.nc --per-molecule -o angles.nc
    """
    if per_molecule and (dat or plot):
        raise InputError("--per-molecule writes a (frame, molecule) table: no --dat or --plot")
    paths = trajectories(paths)
    where = claim_result(paths, "angles" if per_molecule else "orient", output, dat, plot, "eqt-orient")
    check_memory(memory_needed(1, *grid, cells),  # before reading
                 f"--grid {grid[0]} {grid[1]} with --cells {cells[0]} {cells[1]}")
    if per_molecule and (workers or scheduler):
        raise InputError("--per-molecule runs serially: drop --workers/--scheduler")

    def make(ds):
        system = System.from_dataset(ds, paths[0])
        return (Angles(system) if per_molecule else
                Orientation(system, *grid, bandwidth, bandwidth_phi, cells, block_frames))

    with parallel.client(workers, scheduler) as dask_client, \
            tqdm(unit="frame", disable=quiet, file=sys.stderr, desc="orient") as bar:
        calc = parallel.feed(make, paths, fmt, topology, units, start, stop, stride, chunk, dask_client, bar)
    result = calc.result()
    if not per_molecule:
        click.echo(verdict(result), err=True)
    write_result(result, where, plots.draw_result, "cos_theta")


def verdict(ds):
    """One line: isotropic within errors or not, chi2, p, max and rms of F."""
    v = {k: ds[k].item() for k in ("chi2", "p_value", "max_abs_F", "rms_F")}
    return (f"{'isotropic within errors' if v['p_value'] >= 0.01 else 'NOT isotropic'}: chi2 = {v['chi2']:.4g} "
            f"for {ds.attrs['dof']} dof, p = {v['p_value']:.3g}; max |F| = {v['max_abs_F']:.3g} kT, "
            f"rms F = {v['rms_F']:.3g} kT ({ds.attrs['n_samples']} samples, {ds.attrs['n_blocks']} blocks)")
