"""eqt-angmom: momentum, angular momentum, torque, and the drift of conserved quantities."""
import click
import numpy as np
import xarray as xr

from eqt_analysis import conservation, molecules
from eqt_analysis.errors import InputError

from .common import (figure, command, claim_result, eqt_command, result_options, whole_trajectory_options, whole_trajectory,
                     write_result)


@eqt_command()
@click.argument("path", metavar="TRAJ")
@whole_trajectory_options
@click.option("--drift-only", is_flag=True,
              help="Only the drift of the conserved energy (any system, periodic bulk included).")
@result_options
@command
def main(path, fmt, topology, units, start, stop, stride, memory, drift_only, output, dat, plot):
    """For an isolated molecule or cluster: total linear momentum P(t) (amu Å/ps), angular
    momentum about the centre of mass L(t) (amu Å^2/ps), torque tau(t) = sum r x F (eV, needs
    forces) and mean |tau|; for any run: the drift of the conserved energy (eV/ps, and per
    molecule) and of |L|, with standard errors that account for correlated samples.

    \b
    Examples:
      eqt-angmom gas.nc --plot angmom.png       # -> gas.angmom.nc
      eqt-angmom bulk.nc --drift-only
    """
    where = claim_result(path, "angmom", output, dat, plot)
    with whole_trajectory(path, fmt, topology, units, start, stop, stride) as ds:
        ds = ds.load()
        if "time" not in ds.coords:
            raise InputError("the trajectory has no time", path)
        times = ds["time"].values
        if len(times) < 3:
            raise InputError(f"{len(times)} frames: need at least 3 for a drift", path)
        if np.any(np.diff(times) <= 0):
            raise InputError("time does not increase from frame to frame", path)
        numbers, cell = ds["atomic_number"].values, ds["cell"].values if "cell" in ds else None
        result = xr.Dataset(coords={"time": ("time", times, {"units": "picosecond"})})
        if not drift_only:
            if "velocities" not in ds:
                raise InputError("no velocities: angular momentum needs them (write velocities in the MD "
                                 "run, e.g. i-PI <trajectory> velocities, and merge that file with "
                                 "eqt-convert), or use --drift-only", path)
            positions = conservation.isolated_positions(ds["positions"].values, cell, ds["pbc"].values, numbers, path)
            forces = ds["forces"].values if "forces" in ds else None
            if forces is None:
                click.echo("warning: no forces stored: no torque", err=True)
            result = conservation.momentum_dataset(times, conservation.momenta(
                positions, ds["velocities"].values, ds["mass"].values, forces), path)
        if "conserved_energy" in ds:
            first = ds["positions"].values[0]
            n_mol = len(np.unique(ds["molecule"].values)) if "molecule" in ds else \
                len(np.unique(molecules.assign(numbers, first, cell[0] if cell is not None else None, ds["pbc"].values)))
            slope, err, per_mol, per_mol_err = conservation.energy_drift(times, ds["conserved_energy"].values, n_mol, path)
            result["conserved_energy"] = ("time", ds["conserved_energy"].values, {"units": "electronvolt"})
            result.attrs.update(energy_drift_eV_per_ps=slope, energy_drift_err=err,
                                energy_drift_eV_per_ps_per_molecule=per_mol, energy_drift_per_molecule_err=per_mol_err,
                                n_molecules=n_mol)
            click.echo(f"conserved energy drift: {slope:.4g} +- {err:.2g} eV/ps "
                       f"({per_mol * 1e3:.4g} +- {per_mol_err * 1e3:.2g} meV/ps per molecule, {n_mol} molecules)",
                       err=True)
        elif drift_only:
            raise InputError("no conserved_energy in the trajectory (attach the i-PI property file with "
                             "eqt-convert --properties)", path)
        if "L" in result:
            click.echo(f"|L| drift: {result.attrs['L_norm_drift']:.4g} +- {result.attrs['L_norm_drift_err']:.2g} "
                       f"amu Å^2/ps per ps" + (f"; mean |tau| = {result.attrs['mean_abs_torque_eV']:.4g} eV"
                                                if "tau" in result else ""), err=True)
        write_result(result, where, draw)


def draw(ds, path):
    """|L|, |tau| and the conserved energy against time."""
    keys = [k for k in ("L_norm", "tau_norm", "conserved_energy") if k in ds]
    with figure(path, len(keys), 1, (6, 2.4 * len(keys)), sharex=True) as (fig, axes):
        for ax, key in zip(axes[:, 0], keys):
            ax.plot(ds["time"].values, ds[key].values)
            ax.set(ylabel=f"{key} ({ds[key].attrs.get('units', '')})")
        axes[-1, 0].set(xlabel="time (ps)")
