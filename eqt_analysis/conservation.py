"""Conservation laws: linear and angular momentum, torque, and drifts (result type `angmom`).

For an isolated molecule or cluster (no periodic images within reach):
    P(t) = sum m v                                  amu Å/ps
    L(t) = sum m (r - R) x (v - V)                  amu Å^2/ps, about the centre of mass R
    tau(t) = sum (r - R) x F                        eV (= eV/Å · Å)
A rotationally invariant potential exerts no net torque, so L is conserved in NVE; a model
that breaks the symmetry does not. For any run: the drift of the conserved energy (eV/ps, and
per molecule) with a standard error that accounts for correlated samples (`timeseries.drift`).
"""
import numpy as np
import xarray as xr

from . import cell as cellmod
from . import molecules, results, timeseries
from .errors import InputError
from .trajectory import warn

MOMENTA = {"P": ("amu*angstrom/picosecond", "total linear momentum"),
           "L": ("amu*angstrom^2/picosecond", "angular momentum about the centre of mass"),
           "tau": ("electronvolt", "total torque about the centre of mass")}


def isolated_positions(positions, cell, pbc, numbers, source=None):
    """Positions (T, n, 3) with the system made whole; InputError if it is periodic bulk (its
    extent exceeds half the smallest perpendicular cell width)."""
    positions = np.asarray(positions, dtype=float)
    if cell is None or not np.any(pbc):
        return positions
    edges = molecules.spanning_edges(numbers, positions[0], cell[0], pbc)
    whole = molecules.make_whole(positions, cell, *edges)
    extent = np.max(np.ptp(whole, axis=1))
    half = cellmod.perpendicular_widths(cell).min() / 2
    if extent > half:
        raise InputError(f"periodic system (extent {extent:.3g} Å > half the cell, {half:.3g} Å): angular "
                         "momentum about the centre of mass is defined for isolated molecules or "
                         "clusters only; use --drift-only for the energy drift", source)
    return whole


def momenta(positions, velocities, masses, forces=None):
    """Dict of P (T, 3), L (T, 3) and, with forces, tau (T, 3); see the module doc for units."""
    m = np.asarray(masses, dtype=float)
    total = m.sum()
    com = np.einsum("tia,i->ta", positions, m) / total
    vcom = np.einsum("tia,i->ta", velocities, m) / total
    r = positions - com[:, None]
    out = {"P": np.einsum("tia,i->ta", velocities, m),
           "L": np.einsum("i,tia->ta", m, np.cross(r, velocities - vcom[:, None]))}
    if forces is not None:
        out["tau"] = np.cross(r, forces).sum(axis=1)
    return out


def energy_drift(times, energy, n_molecules, source=None):
    """(slope eV/ps, error, slope per molecule, error) of a conserved-energy series (>= 3 frames)."""
    slope, err = timeseries.drift(times, energy, source)
    return slope, err, slope / n_molecules, err / n_molecules


class Conservation:
    """P(t), L(t), tau(t) of an isolated system and the drifts of |L| and of the conserved
    energy; drift_only: only the energy drift (any system, periodic bulk included)."""

    def __init__(self, system, drift_only=False):
        self.system, self.source, self.drift_only = system, system.source, drift_only

    def compute(self, ds):
        """The `angmom` result of the trajectory `ds` (loaded whole)."""
        ds = ds.load()
        if "time" not in ds.coords:
            raise InputError("the trajectory has no time", self.source)
        times = ds["time"].values
        if len(times) < 3:
            raise InputError(f"{len(times)} frames: need at least 3 for a drift", self.source)
        if np.any(np.diff(times) <= 0):
            raise InputError("time does not increase from frame to frame", self.source)
        out = xr.Dataset(coords={"time": ("time", times, {"units": "picosecond", "long_name": "simulation time"})})
        if not self.drift_only:
            self._momenta(ds, out)
        if "conserved_energy" in ds:
            n_mol = len(np.unique(self.system.molecule))
            slope, err, per_mol, per_mol_err = energy_drift(times, ds["conserved_energy"].values, n_mol, self.source)
            out["conserved_energy"] = results.variable("time", ds["conserved_energy"].values, "electronvolt",
                                                       "conserved energy")
            out.update(results.with_error("energy_drift", (), slope, err, "electronvolt/picosecond",
                                          "drift of the conserved energy"))
            out.update(results.with_error("energy_drift_per_molecule", (), per_mol, per_mol_err,
                                          "electronvolt/picosecond", "drift of the conserved energy per molecule",
                                          same_points_as="energy_drift"))
            out.attrs["n_molecules"] = n_mol
        elif self.drift_only:
            raise InputError("no conserved_energy in the trajectory (attach the i-PI property file with "
                             "eqt-convert --properties)", self.source)
        return results.finish(out, "angmom", drift_only=int(self.drift_only))

    def _momenta(self, ds, out):
        """Add P, L (tau with forces), their norms, the drift of |L| and the mean |tau|."""
        if "velocities" not in ds:
            raise InputError("no velocities: angular momentum needs them (write velocities in the MD "
                             "run, e.g. i-PI <trajectory> velocities, and merge that file with "
                             "eqt-convert), or use --drift-only", self.source)
        cell = ds["cell"].values if "cell" in ds else None
        positions = isolated_positions(ds["positions"].values, cell, ds["pbc"].values, ds["atomic_number"].values,
                                       self.source)
        forces = ds["forces"].values if "forces" in ds else None
        if forces is None:
            warn(f"{self.source or 'trajectory'}: no forces stored: no torque")
        out.coords["spatial"] = ("spatial", ["x", "y", "z"], {"units": "1", "long_name": "Cartesian component"})
        for key, series in momenta(positions, ds["velocities"].values, ds["mass"].values, forces).items():
            unit, text = MOMENTA[key]
            out[key] = results.variable(("time", "spatial"), series, unit, text)
            out[f"{key}_norm"] = results.variable("time", np.linalg.norm(series, axis=1), unit, f"|{key}|")
        if "tau_norm" in out:
            mean, err = timeseries.mean_and_error(out["tau_norm"].values)
            out.update(results.with_error("mean_abs_torque", (), mean, err, "electronvolt", "mean |tau| over the run"))
        slope, err = timeseries.drift(out["time"].values, out["L_norm"].values, self.source)
        out.update(results.with_error("L_norm_drift", (), slope, err, "amu*angstrom^2/picosecond^2",
                                      "drift of |L| (amu Å^2/ps per ps)"))
