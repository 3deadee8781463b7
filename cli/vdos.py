"""eqt-vdos: velocity autocorrelation and vibrational density of states."""
import click
import numpy as np
from ase.data import chemical_symbols

from eqt_analysis import timeseries, trajectory, vibrations
from eqt_analysis.diffusion import Trajectory
from eqt_analysis.errors import InputError

from .common import (figure, atoms_per_chunk, command, claim_result, eqt_command, POSITIVE, result_options, whole_trajectory_options, whole_trajectory,
                     write_result)


@eqt_command()
@click.argument("path", metavar="TRAJ")
@whole_trajectory_options
@click.option("--species", default=None, metavar="A,B", help="Species. Default: every species, and the total.")
@click.option("--mass-weighted", is_flag=True, help="Weight by atomic masses (VACF in eV; integral 3 kT per atom).")
@click.option("--window", default="hann", show_default=True, help="Window on the correlation (hann, blackman, none, ...).")
@click.option("--fwhm", type=POSITIVE, default=None, help="Extra Gaussian broadening, full width at half maximum (cm^-1).")
@click.option("--blocks", type=click.IntRange(min=2), default=5, show_default=True,
              help="Blocks of consecutive frames for the standard errors.")
@result_options
@command
def main(path, fmt, topology, units, start, stop, stride, memory, species, mass_weighted, window, fwhm,
         blocks, output, dat, plot):
    """Velocity autocorrelation (all origins, block errors) and vibrational density of states of
    every species and of all atoms, frequencies in cm^-1 (and THz). Uses stored velocities;
    without them, central differences of the unwrapped positions (with a warning).
    Normalization: the VDOS integrated over cm^-1 equals the VACF at lag 0.

    \b
    Example:
      eqt-vdos traj.nc --mass-weighted --fwhm 10 --plot vdos.png     # -> traj.vdos.nc
    """
    where = claim_result(path, "vdos", output, dat, plot)
    with whole_trajectory(path, fmt, topology, units, start, stop, stride) as ds:
        if "time" not in ds.coords:
            raise InputError("the trajectory has no time", path)
        dt = timeseries.time_step(ds["time"].values, path)
        vibrations.check_sampling(dt)
        numbers = ds["atomic_number"].values
        names = trajectory.species(numbers)
        if species:
            wanted = [s.strip() for s in species.split(",")]
            if any(s not in names for s in wanted):
                raise InputError(f"species {species} not all in the trajectory ({', '.join(names)})", path)
            names = wanted
        groups = {s: np.flatnonzero(numbers == chemical_symbols.index(s)) for s in names}
        if not species:
            groups["total"] = np.arange(len(numbers))
        if "velocities" not in ds:
            trajectory.warn(f"{path}: no velocities stored; using central differences of positions "
                            f"every {dt * 1e3:g} fs (store velocities for exact spectra)")
            source = Trajectory(ds)

            def velocities(atoms):
                return vibrations.finite_difference_velocities(source.positions(atoms), dt)
        else:
            def velocities(atoms):
                return ds["velocities"].isel(atom=atoms).values

        masses = ds["mass"].values

        chunk = atoms_per_chunk(ds.sizes["frame"], memory)

        def parts(atoms):
            for lo in range(0, len(atoms), chunk):
                sel = atoms[lo:lo + chunk]
                yield velocities(sel), masses[sel]

        result = vibrations.vdos({k: parts(v) for k, v in groups.items()}, dt, mass_weighted, window, fwhm, blocks, path)
        write_result(result, where, draw, "frequency")


def draw(ds, path):
    """VDOS of every group against wavenumber."""
    names = [n[5:] for n in ds.data_vars if n.startswith("vdos_")]
    with figure(path, size=(6.5, 4)) as (fig, axes):
        ax = axes[0, 0]
        for name in names:
            ax.plot(ds["frequency"].values, ds[f"vdos_{name}"].values, label=name)
        ax.set(xlabel="wavenumber (cm⁻¹)", ylabel=f"VDOS ({ds[f'vdos_{names[0]}'].attrs['units']})",
               xlim=(0, min(4500, float(ds["frequency"].max()))))
        ax.legend()
