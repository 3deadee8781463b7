"""eqt-msd: mean-squared displacement and self-diffusion coefficients."""
import sys

import click
import numpy as np
from ase.data import chemical_symbols
from tqdm import tqdm

from eqt_analysis import diffusion, molecules
from eqt_analysis.errors import InputError
from eqt_analysis import trajectory

from .common import (figure, atoms_per_chunk, command, claim_result, eqt_command, NON_NEGATIVE, POSITIVE, result_options, quiet_option, whole_trajectory_options,
                     whole_trajectory, write_result)


@eqt_command()
@click.argument("path", metavar="TRAJ")
@whole_trajectory_options
@click.option("--species", default=None, metavar="A,B", help="Species to follow. Default: every species.")
@click.option("--com", is_flag=True, help="Also the centres of mass of the molecules (waters or bonded groups).")
@click.option("--keep-drift", is_flag=True, help="Do not remove the system's centre-of-mass drift.")
@click.option("--blocks", type=click.IntRange(min=2), default=5, show_default=True,
              help="Blocks of consecutive frames for the standard errors.")
@click.option("--fit-start", type=NON_NEGATIVE, default=None, help="Start of the fit window (ps). Default: fit-stop / 4.")
@click.option("--fit-stop", type=POSITIVE, default=None, help="End of the fit window (ps). Default: 80% of a block.")
@click.option("--viscosity", type=POSITIVE, default=None, metavar="MPAS",
              help="Shear viscosity (mPa s) for the Yeh-Hummer finite-size correction of D.")
@click.option("--temperature", type=POSITIVE, default=None,
              help="Temperature (K) for the Yeh-Hummer correction. Default: the trajectory's mean.")
@result_options
@quiet_option
@command
def main(path, fmt, topology, units, start, stop, stride, memory, species, com, keep_drift, blocks,
         fit_start, fit_stop, viscosity, temperature, output, dat, plot, quiet):
    """Mean-squared displacement (Å^2) of every species (and of molecular centres of mass with
    --com) over all time origins (FFT), after unwrapping through the periodic boundaries and
    removing the centre-of-mass drift; self-diffusion coefficients D from a straight-line fit
    (Å^2/ps and 1e-5 cm^2/s) with block standard errors of the slope.

    \b
    Input positions may be wrapped; frames must be equally spaced in time. For long
    trajectories use an eqt .nc input: atoms are then read in chunks that fit --memory.

    \b
    Examples:
      eqt-msd traj.nc --species O --fit-start 1 --fit-stop 5 --plot msd.png
      eqt-msd traj.nc --com --viscosity 0.89 --temperature 300
    """
    where = claim_result(path, "msd", output, dat, plot)
    with whole_trajectory(path, fmt, topology, units, start, stop, stride) as ds:
        numbers = ds["atomic_number"].values
        names = trajectory.species(numbers)
        if species:
            wanted = [s.strip() for s in species.split(",")]
            missing = [s for s in wanted if s not in names]
            if missing:
                raise InputError(f"species {', '.join(missing)} not in the trajectory ({', '.join(names)})", path)
            names = wanted
        groups = {s: np.flatnonzero(numbers == chemical_symbols.index(s)) for s in names}
        if com:
            first = ds["positions"].isel(frame=0).values
            cell = ds["cell"].isel(frame=0).values if "cell" in ds else None
            mol = (ds["molecule"].values if "molecule" in ds
                   else molecules.assign(numbers, first, cell, ds["pbc"].values))
            groups["com"] = ("com", [np.flatnonzero(mol == m) for m in np.unique(mol)])
        total = sum(len(g[1]) if isinstance(g, tuple) else len(g) for g in groups.values())
        with tqdm(total=total, unit="atom", disable=quiet, file=sys.stderr, desc="msd") as bar:
            result = diffusion.msd(ds, groups, not keep_drift, blocks,
                                   atoms_per_chunk(ds.sizes["frame"], memory), bar.update, path)
        result = diffusion.diffusion(result, fit_start, fit_stop, list(groups), path)
        if viscosity is not None:
            if temperature is None:
                if "temperature" not in ds:
                    raise InputError("--viscosity needs --temperature (the trajectory has none)", path)
                temperature = float(ds["temperature"].mean())
            for name in groups:
                corrected = diffusion.yeh_hummer(float(result[f"D_{name}"]), temperature, viscosity,
                                                 ds["cell"].values, path)
                result[f"D_{name}_yeh_hummer"] = ((), corrected, {"units": "angstrom^2/picosecond",
                                                                   "long_name": "Yeh-Hummer corrected D"})
            result.attrs.update(viscosity_mPas=viscosity, temperature_K=temperature)
        for name in groups:
            click.echo(f"D_{name} = {float(result[f'D_{name}_1e5cm2s']):.4g} +- "
                       f"{float(result[f'D_{name}_1e5cm2s_err']):.2g} x 1e-5 cm^2/s "
                       f"(fit {result.attrs['fit_start_ps']:g}..{result.attrs['fit_stop_ps']:g} ps)", err=True)
        write_result(result, where, draw)


def draw(ds, path):
    """MSD curves with error bands and the fit window."""
    t = ds["lag_time"].values
    with figure(path) as (fig, axes):
        ax = axes[0, 0]
        for name in [n[4:] for n in ds.data_vars if n.startswith("msd_") and n.count("_") == 1]:
            y, e = ds[f"msd_{name}"].values, ds[f"msd_{name}_err"].values
            line, = ax.plot(t, y, label=f"{name}: D = {float(ds[f'D_{name}_1e5cm2s']):.3g} 1e-5 cm²/s")
            ax.fill_between(t, y - e, y + e, color=line.get_color(), alpha=0.3)
        ax.axvspan(ds.attrs["fit_start_ps"], ds.attrs["fit_stop_ps"], color="grey", alpha=0.15, label="fit window")
        ax.set(xlabel="lag time (ps)", ylabel="MSD (Å²)")
        ax.legend()
