"""Rotational-error statistics from recorded energies of a plain model and its averages.

Given energies of the same structures from several models (the plain model and rotational
averages over grids of increasing order, e.g. i-PI `pot_component_raw(k)` columns), the
rotational error of each is |E_grid - E_finest|, reported as a mean over structures (per
structure and per atom, meV) with a standard error that accounts for correlated samples
(statistical inefficiency), as in Langer, Pozdnyakov, Ceriotti (2024).
"""
import numpy as np
import xarray as xr

from . import timeseries
from .errors import InputError

PAPER_ORDER = ("1", "i", "2", "2i", "3", "3i")


def convergence_table(energies, n_atoms, finest=None, source=None):
    """Dataset over `grid`: mean |E_grid - E_finest| per structure and per atom (meV) with
    standard errors (NaN for a single structure). energies: {grid name: (n_structures,) eV},
    finite, in order of increasing grid; finest: reference grid (default: the last); source:
    the file for messages."""
    names = list(energies)
    if len(names) < 2:
        raise InputError("need the energies of at least two models (plain and averaged)", source)
    finest = finest or names[-1]
    reference = timeseries.check_series(energies[finest], f"energies of grid {finest}", source)
    if len(reference) == 0:
        raise InputError("no structures (all rows skipped?)", source)
    for name in names:
        timeseries.check_series(energies[name], f"energies of grid {name}", source)
    rows = {"mae": [], "mae_err": [], "mae_per_atom": [], "mae_per_atom_err": []}
    for name in names:
        diff = np.abs(np.asarray(energies[name], float) - reference) * 1e3
        n = len(diff)
        g = timeseries.statistical_inefficiency(diff) if n > 2 and np.ptp(diff) > 0 else 1.0
        err = np.std(diff, ddof=1) / np.sqrt(n) * np.sqrt(g) if n > 1 else np.nan
        rows["mae"].append(diff.mean())
        rows["mae_err"].append(err)
        rows["mae_per_atom"].append(diff.mean() / n_atoms)
        rows["mae_per_atom_err"].append(err / n_atoms)
    meta = {"mae": ("meV", "mean |E_grid - E_finest| per structure"),
            "mae_per_atom": ("meV", "mean |E_grid - E_finest| per atom")}
    out = xr.Dataset(coords={"grid": ("grid", names)})
    for key, values in rows.items():
        unit, text = meta[key.replace("_err", "")]
        out[key] = ("grid", np.array(values), {"units": unit, "long_name": ("standard error of " if key.endswith("_err") else "") + text})
    out.attrs.update(finest=finest, n_structures=len(reference), n_atoms=n_atoms)
    return out


def from_properties(props, columns=None, skip=1, n_atoms=1, source=None):
    """Convergence table from an i-PI property file read by eqt_analysis.io.ipi.read_properties.

    columns: {grid name: eqt column name}; default: pot_component_raw_0..5 as the paper's
    grids 1, i, 2, 2i, 3, 3i. skip: leading rows to drop (i-PI replays start with the
    initial structure)."""
    if columns is None:
        columns = {g: f"pot_component_raw_{k}" for k, g in enumerate(PAPER_ORDER)}
    missing = [c for c in columns.values() if c not in props]
    if missing:
        raise InputError(f"property columns {', '.join(missing)} not found ({', '.join(props)})", source)
    energies = {g: props[c][0][skip:] for g, c in columns.items()}
    return convergence_table(energies, n_atoms, source=source)
