"""eqt-vdos: velocity autocorrelation and vibrational density of states."""
import sys

import click
from tqdm import tqdm

from eqt_analysis.system import System
from eqt_analysis.vibrations import VDOS

from . import parallel, plots
from .common import (atoms_per_chunk, blocks_option, command, claim_result, eqt_command, max_lag_option, POSITIVE,
                     quiet_option, result_options, runs_argument, trajectories, whole_runs,
                     whole_trajectory_options, write_result)


@eqt_command()
@runs_argument
@whole_trajectory_options
@click.option("--species", default=None, metavar="A,B", help="Species. Default: every species, and the total.")
@click.option("--mass-weighted", is_flag=True, help="Weight by atomic masses (VACF in eV; integral 3 kT per atom).")
@click.option("--window", default="hann", show_default=True,
              help="Window on the correlation before the transform (hann, blackman, none, ...: scipy's names).")
@click.option("--fwhm", type=POSITIVE, default=None,
              help="Extra Gaussian broadening, full width at half maximum (cm^-1).")
@max_lag_option
@blocks_option
@parallel.options
@result_options
@quiet_option
@command
def main(paths, fmt, topology, units, start, stop, stride, memory, species, mass_weighted, window, fwhm,
         max_lag, blocks, workers, scheduler, output, dat, plot, quiet):
    """Velocity autocorrelation (all origins, block errors at every lag up to half the run) and
    vibrational density of states of every species and of all atoms, frequencies in cm^-1 (and
    THz). Uses stored velocities; without them, central differences of the unwrapped positions
    (with a warning). Normalization: the VDOS integrated over cm^-1 equals the VACF at lag 0.

    \b
    Several TRAJ (paths, or quoted globs such as 'run*/traj.nc'): runs of one system with
    one time step, averaged over every time origin of every run (lags never span the join
    between two runs); the errors pool blocks cut within each run.

    \b
    Example:
      eqt-vdos traj.nc --mass-weighted --fwhm 10 --plot vdos.png     # -> traj.vdos.nc
      eqt-vdos traj.nc --max-lag 1 --blocks 10         # VDOS with errors, 1 ps window
    """
    paths = trajectories(paths)
    where = claim_result(paths, "vdos", output, dat, plot)
    with parallel.client(workers, scheduler) as dask_client, \
            whole_runs(paths, fmt, topology, units, start, stop, stride) as runs:
        calc = VDOS(System.from_dataset(runs[0], paths[0]), species, mass_weighted, window, fwhm, blocks,
                    atoms_per_chunk(max(r.sizes["frame"] for r in runs), memory), max_lag)
        sources = runs if dask_client is None else parallel.openers(paths, fmt, topology, units, start, stop, stride)
        with tqdm(unit="atom", disable=quiet, file=sys.stderr, desc="vdos") as bar:
            result = calc.compute(sources, bar, parallel.mapper(dask_client))
    write_result(result, where, plots.draw_result, "frequency")
