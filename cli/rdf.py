"""eqt-rdf: partial RDFs, coordination numbers, dipole pair correlations, pair anisotropy."""
import sys

import click
from tqdm import tqdm

from eqt_analysis.rdf import RDF, memory_needed
from eqt_analysis.resources import check_memory
from eqt_analysis.system import System

from . import parallel, plots
from .common import (command, claim_result, eqt_command, POSITIVE, block_frames_option, result_options,
                     quiet_option, runs_argument, trajectories, trajectory_options, write_result)


@eqt_command()
@runs_argument
@trajectory_options
@click.option("--pairs", default=None, metavar="A-B,...",
              help="Species pairs, e.g. O-O,O-H. Default: every pair of species present.")
@click.option("--rmax", type=POSITIVE, default=6.0, show_default=True,
              help="Largest distance (Å). Must stay below half the smallest perpendicular cell "
                   "width in every frame (minus 5 bandwidths for --bandwidth): frames that do not "
                   "allow it are refused, never truncated (unless --all-images).")
@click.option("--bins", type=click.IntRange(min=2), default=200, show_default=True,
              help="Histogram bins (or kernel grid points) on [0, rmax).")
@click.option("--bandwidth", type=POSITIVE, default=None, metavar="H",
              help="Gaussian kernel estimate with width H (Å) instead of the histogram.")
@click.option("--normalization", type=click.Choice(["ideal", "pairs"]), default="ideal", show_default=True,
              help="Pair count N_pair of the ideal gas: the pairs that can be counted, N_a N_b minus "
                   "i = j and (with --exclude-intramolecular) minus the pairs within one molecule "
                   "('ideal': MDAnalysis InterRDF with exclusion_block; g -> 1 for an ideal gas), or "
                   "N_a N_b ('pairs': MDAnalysis InterRDF without exclusion_block, or exclude_same).")
@click.option("--exclude-intramolecular", is_flag=True,
              help="Drop pairs within one molecule (the file's molecule index, or bonded groups of the "
                   "first frame), from the counts and, with 'ideal', from N_pair.")
@click.option("--dipole", is_flag=True,
              help="Also the longitudinal/transverse dipole pair correlations c_L(r), c_T(r) of "
                   "waters (each H given to its nearest O in the first frame).")
@click.option("--anisotropy", is_flag=True,
              help="Also lab-frame spherical-harmonic moments ylm (l = 1..4) of pair directions and "
                   "their invariants Q_l(r); all zero for an isotropic liquid.")
@click.option("--all-images", is_flag=True,
              help="Count every periodic image within rmax (as ASE's neighbour list does), so rmax may "
                   "exceed half the cell width (small cells); an atom's own images are pairs too. Not "
                   "with --anisotropy.")
@block_frames_option
@parallel.options
@result_options
@quiet_option
@command
def main(paths, fmt, topology, units, start, stop, stride, chunk, pairs, rmax, bins, bandwidth,
         normalization, exclude_intramolecular, dipole, anisotropy, all_images, block_frames, workers, scheduler,
         output, dat, plot, quiet):
    """Radial distribution functions g(pair, r) and coordination numbers n(pair, r) of TRAJ,
    with block standard errors (*_err), exact minimum images in any cell. Distances in Å.

    Several TRAJ (paths, or quoted globs such as 'run*/traj.nc') are runs of one system
    taken together: their frames are one stream in the order given (--start, --stop and
    --stride apply to each run; blocks are consecutive frames of that stream), and the
    default result is named after the first.

    \b
    Writes a NetCDF Dataset (result type 'rdf', docs/results.md): coordinates pair ("O-H"),
    r (bin centres), r_upper, r_edge; g, n, g_inter (intermolecular part, when some pairs lie
    within one molecule), optionally c_L, c_T, ylm(pair, lm, r), Q(pair, l, r), each with
    *_err; density(pair) (Å^-3), pair_count(pair), mean_volume (Å^3). --plot draws the
    intermolecular g (g_inter: bond and angle peaks left out) and c_L, c_T.

    \b
    Examples:
      eqt-rdf traj.nc                         # -> traj.rdf.nc
      eqt-rdf traj.nc --pairs O-O --bandwidth 0.05 --rmax 5.5 --dipole --plot rdf.png
      eqt-rdf 'run*/traj.nc' --pairs O-O -o rdf.nc   # several runs together
      eqt-convert run.xyz - --to netcdf | eqt-rdf -f netcdf - -o - > rdf.nc
    """
    paths = trajectories(paths)
    where = claim_result(paths, "rdf", output, dat, plot)
    check_memory(memory_needed(bins, 1, dipole, anisotropy), f"--bins {bins}")  # before reading
    with parallel.client(workers, scheduler) as dask_client, \
            tqdm(unit="frame", disable=quiet, file=sys.stderr, desc="rdf") as bar:
        calc = parallel.feed(lambda ds: RDF(System.from_dataset(ds, paths[0]), pairs, rmax, bins, bandwidth,
                                            exclude_intramolecular, dipole, anisotropy, normalization, block_frames,
                                            all_images),
                             paths, fmt, topology, units, start, stop, stride, chunk, dask_client, bar)
    write_result(calc.result(), where, plots.draw_result, "r")
