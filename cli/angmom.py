"""eqt-angmom: momentum, angular momentum, torque, and the drift of conserved quantities."""
import click

from eqt_analysis.conservation import Conservation
from eqt_analysis.system import System

from . import plots
from .common import (command, claim_result, eqt_command, quiet_option, result_options,
                     selection_options, whole_trajectory, write_result)


@eqt_command()
@click.argument("path", metavar="TRAJ")
@selection_options
@click.option("--drift-only", is_flag=True,
              help="Only the drift of the conserved energy (any system, periodic bulk included).")
@result_options
@quiet_option
@command
def main(path, fmt, topology, units, start, stop, stride, drift_only, output, dat, plot, quiet):
    """For an isolated molecule or cluster: total linear momentum P(t) (amu Å/ps), angular
    momentum about the centre of mass L(t) (amu Å^2/ps), torque tau(t) = sum r x F (eV, needs
    forces) and mean |tau|; for any run: the drift of the conserved energy (eV/ps, and per
    molecule) and of |L|, with standard errors that account for correlated samples. The whole
    selection is loaded.

    \b
    Examples:
      eqt-angmom gas.nc --plot angmom.png       # -> gas.angmom.nc
      eqt-angmom bulk.nc --drift-only
    """
    where = claim_result(path, "angmom", output, dat, plot)
    with whole_trajectory(path, fmt, topology, units, start, stop, stride) as ds:
        result = Conservation(System.from_dataset(ds, path), drift_only).compute(ds)
    for line in summary(result):
        click.echo(line, err=True)
    write_result(result, where, plots.draw_result, "time")


def summary(ds):
    """The energy drift (total and per molecule) and the drift of |L| with the mean |tau|."""
    if "energy_drift" in ds:
        e = {k: float(ds[k]) for k in ("energy_drift", "energy_drift_err", "energy_drift_per_molecule",
                                       "energy_drift_per_molecule_err")}
        yield (f"conserved energy drift: {e['energy_drift']:.4g} +- {e['energy_drift_err']:.2g} eV/ps "
               f"({1e3 * e['energy_drift_per_molecule']:.4g} +- {1e3 * e['energy_drift_per_molecule_err']:.2g} "
               f"meV/ps per molecule, {ds.attrs['n_molecules']} molecules)")
    if "L" in ds:
        torque = (f"; mean |tau| = {float(ds['mean_abs_torque']):.4g} +- {float(ds['mean_abs_torque_err']):.2g} eV"
                  if "tau" in ds else "")
        yield (f"|L| drift: {float(ds['L_norm_drift']):.4g} +- {float(ds['L_norm_drift_err']):.2g} "
               f"amu Å^2/ps per ps{torque}")
