"""eqt-rdf: partial RDFs, coordination numbers, dipole pair correlations, pair anisotropy."""
import sys

import click
from tqdm import tqdm

from eqt_analysis import molecules
from eqt_analysis.rdf import RDF, memory_needed, species_pairs
from eqt_analysis.resources import check_memory

from .common import (figure, command, claim_result, eqt_command, POSITIVE, result_options, quiet_option, read_chunks,
                     trajectory_options, write_result)


@eqt_command()
@click.argument("path", metavar="TRAJ")
@trajectory_options
@click.option("--pairs", default=None, metavar="A-B,...",
              help="Species pairs, e.g. O-O,O-H. Default: every pair of species present.")
@click.option("--rmax", type=POSITIVE, default=6.0, show_default=True,
              help="Largest distance (Å). Must stay below half the smallest perpendicular cell "
                   "width in every frame (minus 5 bandwidths for --bandwidth): frames that do not "
                   "allow it are refused, never truncated.")
@click.option("--bins", type=click.IntRange(min=2), default=200, show_default=True,
              help="Histogram bins (or kernel grid points) on [0, rmax).")
@click.option("--bandwidth", type=POSITIVE, default=None, metavar="H",
              help="Gaussian kernel estimate with width H (Å) instead of the histogram.")
@click.option("--normalization", type=click.Choice(["ideal", "pairs"]), default="ideal", show_default=True,
              help="Pair count of the ideal gas: N_a (N_b - delta_ab) ('ideal', small-system "
                   "factor) or N_a N_b ('pairs', MDAnalysis InterRDF without exclusion block).")
@click.option("--exclude-intramolecular", is_flag=True, help="Drop pairs within one molecule.")
@click.option("--dipole", is_flag=True,
              help="Also the longitudinal/transverse dipole pair correlations c_L(r), c_T(r) of "
                   "waters (each H given to its nearest O in the first frame).")
@click.option("--anisotropy", is_flag=True,
              help="Also lab-frame spherical-harmonic moments (l = 1..4) of pair directions and "
                   "their invariant Q_l(r); all zero for an isotropic liquid.")
@click.option("--block", type=click.IntRange(min=1), default=None, metavar="N",
              help="Frames per block for standard errors. Default: automatic (32 to 64 blocks).")
@result_options
@quiet_option
@command
def main(path, fmt, topology, units, start, stop, stride, chunk, pairs, rmax, bins, bandwidth,
         normalization, exclude_intramolecular, dipole, anisotropy, block, output, dat, plot, quiet):
    """Radial distribution functions g_ab(r) and coordination numbers n_ab(r) of TRAJ, with
    block standard errors (*_err), exact minimum images in any cell. Distances in Å.

    \b
    Writes a NetCDF Dataset: coordinates r (bin centres), r_upper, r_edge; g_AB, n_AB,
    optionally cL_AB, cT_AB, ylm_AB, anisotropy_AB, each with *_err; density_B (Å^-3),
    mean_volume (Å^3); estimator and normalization in the attributes.

    \b
    Examples:
      eqt-rdf traj.nc                         # -> traj.rdf.nc
      eqt-rdf traj.nc --pairs O-O --bandwidth 0.05 --dipole --plot rdf.png
      eqt-convert run.xyz - --to netcdf | eqt-rdf -f netcdf - -o - > rdf.nc
    """
    where = claim_result(path, "rdf", output, dat, plot)
    check_memory(memory_needed(bins, 1, dipole, anisotropy), f"--bins {bins}")  # before reading
    calc = None
    with tqdm(unit="frame", disable=quiet, file=sys.stderr, desc="rdf") as bar:
        for ds in read_chunks(path, fmt, topology, units, start, stop, stride, chunk):
            if calc is None:
                numbers, first = ds["atomic_number"].values, ds["positions"].values[0]
                cell = ds["cell"].values[0] if "cell" in ds else None
                molecule = ds["molecule"].values if "molecule" in ds else None
                if molecule is None and exclude_intramolecular:
                    molecule = molecules.assign(numbers, first, cell, ds["pbc"].values)
                waters = molecules.find_waters(numbers, first, cell, ds["pbc"].values) if dipole else None
                calc = RDF(numbers, species_pairs(numbers, pairs, path), rmax, bins, bandwidth, molecule,
                           exclude_intramolecular, waters, anisotropy, normalization, block, path)
            calc.add_chunk(ds)
            bar.update(ds.sizes["frame"])
    result = calc.result()
    write_result(result, where, draw)


def draw(ds, path):
    """g(r) (and c_L, c_T) panels with error bands."""
    names = [n[2:] for n in ds.data_vars if n.startswith("g_") and not n.endswith("_err")]
    has_c = any(n.startswith("cL_") for n in ds.data_vars)
    r = ds["r"].values
    with figure(path, 1, 2 if has_c else 1, (10 if has_c else 5.5, 4)) as (fig, axes):
        for name in names:
            g, err = ds[f"g_{name}"].values, ds[f"g_{name}_err"].values
            line, = axes[0, 0].plot(r, g, label=name)
            axes[0, 0].fill_between(r, g - err, g + err, color=line.get_color(), alpha=0.3)
            if has_c and f"cL_{name}" in ds:
                for key, style in (("cL", "-"), ("cT", "--")):
                    axes[0, 1].plot(r, ds[f"{key}_{name}"].values, style, label=f"{key} {name}")
        axes[0, 0].set(xlabel="r (Å)", ylabel="g(r)", title=ds.attrs.get("estimator", ""))
        axes[0, 0].axhline(1.0, color="grey", lw=0.5)
        axes[0, 0].legend()
        if has_c:
            axes[0, 1].set(xlabel="r (Å)", ylabel="c(r)", title="dipole pair correlations")
            axes[0, 1].axhline(0.0, color="grey", lw=0.5)
            axes[0, 1].legend()
