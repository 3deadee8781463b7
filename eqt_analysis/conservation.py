"""Conservation laws: linear and angular momentum, torque, and drifts.

For an isolated molecule or cluster (no periodic images within reach):
    P(t) = sum m v                                  amu Å/ps
    L(t) = sum m (r - R) x (v - V)                  amu Å^2/ps, about the centre of mass R
    tau(t) = sum (r - R) x F                        eV (= eV/Å · Å)
A rotationally invariant potential exerts no net torque, so L is conserved in NVE; a model
that breaks the symmetry does not. For any run: the drift of the conserved energy (eV/ps, and
per molecule) with a standard error that accounts for correlated samples.
"""
import numpy as np
import xarray as xr

from . import cell as cellmod
from . import molecules, timeseries
from .errors import InputError


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


def momentum_dataset(times, values, source=None):
    """Dataset of the time series P, L, tau (with norms) and drift summaries (>= 3 frames)."""
    meta = {"P": ("amu*angstrom/picosecond", "total linear momentum"),
            "L": ("amu*angstrom^2/picosecond", "angular momentum about the centre of mass"),
            "tau": ("electronvolt", "total torque about the centre of mass")}
    ds = xr.Dataset(coords={"time": ("time", times, {"units": "picosecond"}), "xyz": ["x", "y", "z"]})
    for key, series in values.items():
        unit, text = meta[key]
        ds[key] = (("time", "xyz"), series, {"units": unit, "long_name": text})
        ds[f"{key}_norm"] = ("time", np.linalg.norm(series, axis=1), {"units": unit, "long_name": f"|{key}|"})
    if "tau" in values:
        ds.attrs["mean_abs_torque_eV"] = float(ds["tau_norm"].mean())
    slope, err = timeseries.drift(times, ds["L_norm"].values, source)
    ds.attrs.update(L_norm_drift=slope, L_norm_drift_err=err,
                    L_norm_drift_units="amu*angstrom^2/picosecond per picosecond")
    return ds


def energy_drift(times, energy, n_molecules, source=None):
    """(slope eV/ps, error, slope per molecule, error) of a conserved-energy series (>= 3 frames)."""
    slope, err = timeseries.drift(times, energy, source)
    return slope, err, slope / n_molecules, err / n_molecules
