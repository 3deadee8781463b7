"""eqt-msd: mean-squared displacement and self-diffusion coefficients."""
import sys

import click
from tqdm import tqdm

from eqt_analysis.diffusion import ANGSTROM2_PER_PS_IN_1E5_CM2_PER_S as CGS, MSD
from eqt_analysis.system import System

from . import parallel, plots
from .common import (atoms_per_chunk, blocks_option, command, claim_result, eqt_command, NON_NEGATIVE,
                     POSITIVE, quiet_option, result_options, runs_argument, trajectories, whole_runs, whole_trajectory_options,
                     write_result)


@eqt_command()
@runs_argument
@whole_trajectory_options
@click.option("--species", default=None, metavar="A,B", help="Species to follow. Default: every species.")
@click.option("--com", is_flag=True, help="Also the centres of mass of the molecules (waters or bonded groups).")
@click.option("--keep-drift", is_flag=True, help="Do not remove the system's centre-of-mass drift.")
@blocks_option
@click.option("--fit-start", type=NON_NEGATIVE, default=None,
              help="Start of the fit window (ps). Default: fit-stop / 4, or chosen from the data.")
@click.option("--fit-stop", type=POSITIVE, default=None,
              help="End of the fit window (ps), up to the trajectory length. Default: half the run with "
                   "--fit-start, else chosen from the data (the longest stretch where the log-log slope "
                   "of the MSD is 1 +- 0.1, after the ballistic and caged motion).")
@click.option("--viscosity", type=POSITIVE, default=None, metavar="MPAS",
              help="Shear viscosity (mPa s) for the Yeh-Hummer finite-size correction of D.")
@click.option("--temperature", type=POSITIVE, default=None,
              help="Temperature (K) for the Yeh-Hummer correction. Default: the trajectory's mean.")
@parallel.options
@result_options
@quiet_option
@command
def main(paths, fmt, topology, units, start, stop, stride, memory, species, com, keep_drift, blocks,
         fit_start, fit_stop, viscosity, temperature, workers, scheduler, output, dat, plot, quiet):
    """Mean-squared displacement (Å^2) of every species (and of molecular centres of mass with
    --com) over all time origins (FFT), after unwrapping through the periodic boundaries and
    removing the centre-of-mass drift, with block standard errors at every lag up to half the
    run; self-diffusion coefficients D (Å^2/ps; printed also in 1e-5 cm^2/s) from a straight-line
    fit, with the block standard error of the slope. A warning names any group whose MSD is not
    linear in its fit window.

    \b
    Input positions may be wrapped; frames must be equally spaced in time. For long
    trajectories use an eqt .nc input: atoms are then read in chunks that fit --memory.

    \b
    Several TRAJ (paths, or quoted globs such as 'run*/traj.nc'): runs of one system with
    one time step; the MSD averages every time origin of every run, lags never spanning
    the join between two runs, and the errors pool blocks cut within each run (as long as
    those of the shortest run).

    \b
    Examples:
      eqt-msd traj.nc --species O --plot msd.png             # -> traj.msd.nc
      eqt-msd traj.nc --com --fit-start 2 --fit-stop 10 --viscosity 0.89 --temperature 300
      eqt-msd 'run*/traj.nc' --species O -o msd.nc           # parallel runs together
    """
    paths = trajectories(paths)
    where = claim_result(paths, "msd", output, dat, plot)
    with parallel.client(workers, scheduler) as dask_client, \
            whole_runs(paths, fmt, topology, units, start, stop, stride) as runs:
        calc = MSD(System.from_dataset(runs[0], paths[0]), species, com, not keep_drift, blocks, fit_start, fit_stop,
                   viscosity, temperature, atoms_per_chunk(max(ds.sizes["frame"] for ds in runs), memory))
        sources = runs if dask_client is None else parallel.openers(paths, fmt, topology, units, start, stop, stride)
        with tqdm(unit="atom", disable=quiet, file=sys.stderr, desc="msd") as bar:
            result = calc.compute(sources, bar, parallel.mapper(dask_client))
    for line in summary(result):
        click.echo(line, err=True)
    write_result(result, where, plots.draw_result, "lag_time")


def summary(ds):
    """One line per group: D (and the Yeh-Hummer D) in 1e-5 cm^2/s, the window, its slope."""
    for g in ds["group"].values:
        r = ds.sel(group=g)
        corrected = (f"; Yeh-Hummer {float(r['D_yeh_hummer']) * CGS:.4g} +- {float(r['D_yeh_hummer_err']) * CGS:.2g}"
                     if "D_yeh_hummer" in ds else "")
        yield (f"D({g}) = {float(r['D']) * CGS:.4g} +- {float(r['D_err']) * CGS:.2g}{corrected} x 1e-5 cm^2/s "
               f"(fit {float(r['fit_start']):g}..{float(r['fit_stop']):g} ps, log-log slope "
               f"{float(r['fit_loglog_slope']):.2f}, error from {int(r['D_blocks'])} blocks)")
