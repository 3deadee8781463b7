"""eqt-rotcorr: rotational relaxation of water dipole axes."""
import sys

import click
from tqdm import tqdm

from eqt_analysis.rotcorr import RotationalCorrelation
from eqt_analysis.system import System

from . import parallel, plots
from .common import (atoms_per_chunk, blocks_option, command, claim_result, eqt_command, quiet_option,
                     result_options, runs_argument, trajectories, whole_runs,
                     whole_trajectory_options, write_result)


@eqt_command()
@runs_argument
@whole_trajectory_options
@blocks_option
@parallel.options
@result_options
@quiet_option
@command
def main(paths, fmt, topology, units, start, stop, stride, memory, blocks, workers, scheduler, output, dat, plot,
         quiet):
    """Dipole-axis time correlations of the waters in TRAJ: C_l(t) = <P_l(u(0)·u(t))> for
    l = 1, 2 over all time origins, with block standard errors at every lag up to half the run,
    and their integrated relaxation times tau_l (ps, integral up to the first zero). Where C_l
    has not decayed to zero within the run, tau_l is a lower bound: a warning says so and gives
    the value C_l reached (also in the result: tau_lower_bound, C_reached).

    \b
    Several TRAJ (paths, or quoted globs such as 'run*/traj.nc'): runs of one system with
    one time step, averaged over every time origin of every run (lags never span the join
    between two runs); the errors pool blocks cut within each run.

    \b
    Example:
      eqt-rotcorr traj.nc --plot rot.png       # -> traj.rotcorr.nc
    """
    paths = trajectories(paths)
    where = claim_result(paths, "rotcorr", output, dat, plot)
    with parallel.client(workers, scheduler) as dask_client, \
            whole_runs(paths, fmt, topology, units, start, stop, stride) as runs:
        calc = RotationalCorrelation(System.from_dataset(runs[0], paths[0]), blocks,
                                     atoms_per_chunk(max(r.sizes["frame"] for r in runs), memory) // 3)
        sources = runs if dask_client is None else parallel.openers(paths, fmt, topology, units, start, stop, stride)
        with tqdm(unit="water", disable=quiet, file=sys.stderr, desc="rotcorr") as bar:
            result = calc.compute(sources, bar, parallel.mapper(dask_client))
    for order in result["order"].values:
        r = result.sel(order=order)
        click.echo(f"tau_{order} = {float(r['tau']):.4g} ps{' (lower bound)' if r['tau_lower_bound'] else ''} "
                   f"({result.attrs['n_molecules']} waters, {result.attrs['n_frames']} frames)", err=True)
    write_result(result, where, plots.draw_result, "lag_time")
