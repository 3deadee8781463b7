"""How much does a model break rotational symmetry, and how far off is it from its labels?

A model is an averaging evaluator `evaluate(positions, cell, numbers, pbc, rotations)` (see
eqt_model.averaging): an eqt model (calculator.Potential.over_rotations, batched JAX calls) or
any ASE calculator (calculator.ase_evaluator). Structures are (positions, cell or None,
numbers, pbc) tuples (`structures(frames)`). For each structure `report` measures

- the spread: standard deviation over `n_random` random rotations of E and of the back-rotated
  forces (mean over atoms and components);
- E and F averaged over each grid (coarse to fine): the rotational errors |E_grid - E_finest|
  and |F_grid - F_finest| (per element), with labels the test errors of each grid's model;
- the ℓ channels: E(R) on an order-(l_max + 1) grid projected on the real Wigner matrices
  D^l(R) (l <= 4): the variance of E over rotations splits into (2l + 1) sum_mm' c_lmm'^2, so
  one sees which grid order removes the breaking (an order-L grid is exact up to l = 2L - 2);

and `result` turns it into the "rotvar" result (docs/results.md). `from_properties` makes the
same convergence table from energies recorded by i-PI (no model run); `evaluation` is the
"eval" result of one model on labelled structures. Results are stored in the units printed:
meV, meV/Å, meV^2. Errors of mean rotational errors account for correlated samples
(statistical inefficiency), as in Langer, Pozdnyakov, Ceriotti (2024).
"""
import json
import time

import numpy as np
import xarray as xr
from ase.data import chemical_symbols

from eqt_analysis import timeseries
from eqt_analysis.errors import InputError
from eqt_analysis.resources import check_memory
from eqt_analysis.results import finish, variable, with_error

from . import rotations
from .wigner import L_MAX, wigner_real

GRID = ("grid",)


def structures(frames):
    """(positions, cell or None, numbers, pbc) of ASE Atoms, as evaluators take them."""
    return [(a.positions, a.cell.array if a.pbc.any() else None, a.numbers, a.pbc) for a in frames]


def _per_structure(function, k, source, *args):
    """function(*args); an InputError names the structure k and the file `source`."""
    try:
        return function(*args)
    except InputError as err:
        raise InputError(f"structure {k}: {err}", source) from None


# ------------------------------------------------------------------ measuring a model

def channel_variances(energies, rots, weights, l_max):
    """Variance of E over rotations in each angular-momentum channel l = 1..l_max (eV^2)."""
    d = wigner_real(rots, l_max)
    out = []
    for l in range(1, l_max + 1):
        c = np.einsum("k,k,kmn->mn", weights, energies, d[l])
        out.append((2 * l + 1) * np.sum(c**2))
    return np.array(out)


def report(evaluate, structures, n_random=16, grids=rotations.PAPER_GRIDS, l_max=0, seed=0, progress=None,
           source=None, mapper=map, remote=None):
    """Per-structure rotational statistics of `evaluate` on structures (positions, cell,
    numbers, pbc); grids: Grid values or names, coarse to fine; source: the file, for messages.
    mapper(function, items): results in order (map; a cluster's map spreads the structures,
    each worker building its evaluate with remote(), a picklable function).

    Returns a dict: spread_energy (S,) eV, spread_forces (S,) eV/Å, energy {grid: (S,)} eV and
    forces {grid: [(N, 3)]} eV/Å of the averaged models, channel_variance (S, l_max) eV^2.
    The random rotations are drawn in float64 whatever JAX's precision (seeded).
    """
    import jax  # JAX only for model runs: --from-properties starts fast

    if not 0 <= l_max <= L_MAX:
        raise InputError(f"l_max must be 0..{L_MAX}")
    check_memory(n_random * (256 + 48 * max(len(s[2]) for s in structures)), f"--n-random {n_random}")
    grids = [g if isinstance(g, rotations.Grid) else rotations.grid(g) for g in grids]
    with jax.enable_x64(True):
        random_rots = np.asarray(rotations.random_rotations(jax.random.PRNGKey(seed), n_random))
    fine = rotations.grid(f"L{l_max + 1}") if l_max else None
    out = {"spread_energy": [], "spread_forces": [], "energy": {g.name: [] for g in grids},
           "forces": {g.name: [] for g in grids}, "channel_variance": []}
    evaluator = remote or (lambda: evaluate)
    jobs = [(evaluator, k, structure, random_rots, grids, fine, l_max, source) for k, structure in enumerate(structures)]
    for spread_e, spread_f, energy, forces, variance in mapper(_measure, jobs):
        out["spread_energy"].append(spread_e)
        out["spread_forces"].append(spread_f)
        for g in grids:
            out["energy"][g.name].append(energy[g.name])
            out["forces"][g.name].append(forces[g.name])
        if variance is not None:
            out["channel_variance"].append(variance)
        if progress:
            progress(1)
    return out


def _measure(job):
    """report's statistics of one structure: (spread of E, mean spread of F, {grid: E}, {grid: F},
    channel variances or None). job: (evaluator (a function returning the evaluate), index k,
    structure, random rotations, grids, fine grid or None, l_max, source)."""
    from . import averaging

    evaluator, k, structure, random_rots, grids, fine, l_max, source = job
    evaluate = evaluator()

    def measure():
        e, f = evaluate(*structure, random_rots)
        energy, forces = {}, {}
        for g in grids:
            energy[g.name], forces[g.name] = averaging.average(evaluate, g)(*structure)
        variance = None
        if fine is not None:
            e_fine, _ = evaluate(*structure, fine.rotations)
            variance = channel_variances(e_fine, fine.rotations, fine.weights, l_max)
        return float(averaging.spread(e)), float(np.mean(averaging.spread(f))), energy, forces, variance

    return _per_structure(measure, k, source)


def plan(evaluate, structures, grids, n_random, l_max):
    """Lines telling the evaluations a report needs and an estimate of its time: one evaluation
    timed after compiling, plus the first call's compile time for every program the report
    compiles (one per atom count and batch of rotations: each grid, the random rotations, the
    ℓ-analysis)."""
    identity = rotations.IDENTITY.rotations
    t0 = time.perf_counter()
    evaluate(*structures[0], identity)  # compiles
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    evaluate(*structures[0], identity)
    each = time.perf_counter() - t0
    per_structure = n_random + sum(len(g) for g in grids) + ((2 * l_max + 1) ** 2 * (l_max + 1) if l_max else 0)
    total = len(structures) * per_structure
    programs = len({len(s[0]) for s in structures}) * (len(grids) + bool(n_random) + bool(l_max))
    compile_each = max(first - each, 0.0)
    compile_s = compile_each * programs
    return [f"grid {g.name:>4}: {len(g):4d} rotation{'s' if len(g) > 1 else ''}" for g in grids] + [
        f"{len(structures)} structures x {per_structure} evaluations = {total}; about {total * each + compile_s:.0f} s: "
        f"{total * each:.0f} s at {each * 1e3:.1f} ms each (batching makes eqt models faster than this) and "
        f"{compile_s:.0f} s compiling ({programs} programs x {compile_each:.1f} s)"]


# ------------------------------------------------------------------ errors

def predict(energy_and_forces, structures, source=None, progress=None, mapper=map, remote=None):
    """Energies (S,) eV and forces [(N, 3)] eV/Å of a model `energy_and_forces(positions,
    cell, numbers, pbc)` on structures; source: the file, for messages. mapper, remote: as
    for report (remote() builds energy_and_forces on a worker)."""
    function = remote or (lambda: energy_and_forces)
    energies, forces = [], []
    for e, f in mapper(_predict, [(function, k, structure, source) for k, structure in enumerate(structures)]):
        energies.append(e)
        forces.append(f)
        if progress:
            progress(1)
    return np.array(energies), forces


def _predict(job):
    function, k, structure, source = job
    return _per_structure(function(), k, source, *structure)


ENERGY_ERRORS = {"energy_mae": "MAE of the energy per structure", "energy_rmse": "RMSE of the energy per structure",
                 "energy_per_atom_mae": "MAE of the energy per atom", "energy_per_atom_rmse": "RMSE of the energy per atom"}


def energy_errors(predicted, reference, n_atoms):
    """{ENERGY_ERRORS name: value in meV} of predicted against reference energies (S,) eV."""
    de = np.asarray(predicted, float) - reference
    return {"energy_mae": np.mean(np.abs(de)) * 1e3, "energy_rmse": np.sqrt(np.mean(de**2)) * 1e3,
            "energy_per_atom_mae": np.mean(np.abs(de / n_atoms)) * 1e3,
            "energy_per_atom_rmse": np.sqrt(np.mean((de / n_atoms) ** 2)) * 1e3}


def force_errors(numbers, predicted, reference):
    """(species labels ["total", element, ...], MAE (n,), RMSE (n,)) in meV/Å of force components
    over all atoms and per element; numbers, predicted, reference: per structure (N,), (N, 3) eV/Å."""
    numbers = np.concatenate(numbers)
    diff = np.concatenate([np.asarray(p) - r for p, r in zip(predicted, reference)])
    elements = sorted({int(z) for z in numbers})
    selections = [diff] + [diff[numbers == z] for z in elements]
    return (["total"] + [chemical_symbols[z] for z in elements],
            np.array([np.mean(np.abs(d)) * 1e3 for d in selections]),
            np.array([np.sqrt(np.mean(d**2)) * 1e3 for d in selections]))


def _species(labels):
    return variable(("species",), labels, "1", "element of the atoms (total: all atoms)")


def _structure(index):
    return variable(("structure",), index, "1", "index of the structure in the input file")


# ------------------------------------------------------------------ results

def convergence_table(energies, n_atoms, finest=None, source=None):
    """Dataset over `grid`: energy_error, energy_error_per_atom (mean |E_grid - E_finest| per
    structure and per atom, meV) with standard errors (NaN for a single structure).
    energies: {grid name: (n_structures,) eV}, finite, in order of increasing grid; finest:
    reference grid (default: the last); source: the file for messages."""
    names = list(energies)
    if len(names) < 2:
        raise InputError("need the energies of at least two models (plain and averaged)", source)
    finest = finest or names[-1]
    reference = timeseries.check_series(energies[finest], f"energies of grid {finest}", source)
    if len(reference) == 0:
        raise InputError("no structures (all rows skipped?)", source)
    for name in names:
        timeseries.check_series(energies[name], f"energies of grid {name}", source)
    mae, err = [], []
    for name in names:
        m, e = timeseries.mean_and_error(np.abs(np.asarray(energies[name], float) - reference) * 1e3)
        mae.append(m)
        err.append(e)
    mae, err = np.array(mae), np.array(err)
    out = xr.Dataset(
        with_error("energy_error", GRID, mae, err, "meV", f"mean |E_grid - E_{finest}| per structure")
        | with_error("energy_error_per_atom", GRID, mae / n_atoms, err / n_atoms, "meV",
                     f"mean |E_grid - E_{finest}| per atom"),
        coords={"grid": variable(GRID, names, "1", "averaging grid (coarse to fine)")})
    out.attrs.update(finest=finest, n_structures=len(reference), n_atoms=n_atoms)
    return out


def from_properties(props, columns=None, skip=1, n_atoms=1, source=None):
    """The "rotvar" result of energies recorded in an i-PI property file (read by
    eqt_analysis.io.ipi.read_properties): the convergence table, no model run.

    columns: {grid name: eqt column name}; default: pot_component_raw_0..5 as the paper's
    grids 1, i, 2, 2i, 3, 3i. skip: leading rows to drop (i-PI replays start with the
    initial structure)."""
    if columns is None:
        columns = {g: f"pot_component_raw_{k}" for k, g in enumerate(rotations.PAPER_GRIDS)}
    missing = [c for c in columns.values() if c not in props]
    if missing:
        raise InputError(f"property columns {', '.join(missing)} not found ({', '.join(props)})", source)
    energies = {g: props[c][0][skip:] for g, c in columns.items()}
    return finish(convergence_table(energies, n_atoms, source=source), "rotvar", skip=skip)


def net_torque(positions, forces):
    """sum_i (r_i - centroid) x F_i (eV with Å and eV/Å): zero for the forces of a rotation-equivariant model
    on an isolated structure (their net force is zero, so the point about which it is taken does not matter)."""
    r = np.asarray(positions, float)
    return np.cross(r - r.mean(axis=0), np.asarray(forces, float)).sum(axis=0)


def result(out, structures, energies=None, forces=None, index=None, **params):
    """The "rotvar" result (docs/results.md) of a report `out` on `structures`; with the test
    errors when the reference energies (S,) eV and forces [(N, 3)] eV/Å are all finite.
    index: the structures' indices in their file (default 0..S-1); params: attributes."""
    grids = list(out["energy"])
    finest = grids[-1]
    numbers = [s[2] for s in structures]
    ds = convergence_table({g: np.array(out["energy"][g]) for g in grids}, float(np.mean([len(z) for z in numbers])))
    per_grid = [force_errors(numbers, out["forces"][g], out["forces"][finest]) for g in grids]
    ds = ds.assign_coords(species=_species(per_grid[0][0]),
                          structure=_structure(np.arange(len(structures)) if index is None else index))
    ds["forces_error"] = variable(GRID + ("species",), [mae for _, mae, _ in per_grid], "meV/angstrom",
                                  f"mean |F_grid - F_{finest}| per force component")
    if all(s[1] is None for s in structures):  # isolated structures: the net torque of each grid's forces
        torque = [timeseries.mean_and_error([np.linalg.norm(net_torque(s[0], f)) * 1e3 for s, f in
                                             zip(structures, out["forces"][g])]) for g in grids]
        ds = ds.assign(with_error("torque", GRID, [m for m, _ in torque], [e for _, e in torque], "meV",
                                  "mean |sum_i (r_i - r_centroid) x F_grid,i| over structures"))
    if energies is not None and np.all(np.isfinite(energies)) and all(np.all(np.isfinite(f)) for f in forces):
        test_e = [energy_errors(out["energy"][g], energies, 1)["energy_mae"] for g in grids]
        test_f = [force_errors(numbers, out["forces"][g], forces)[1][0] for g in grids]
        ds["test_energy_mae"] = variable(GRID, test_e, "meV", "mean |E_grid - E_label| per structure")
        ds["test_forces_mae"] = variable(GRID, test_f, "meV/angstrom", "mean |F_grid - F_label| per force component")
        with np.errstate(divide="ignore", invalid="ignore"):  # a perfect model: NaN, not a warning
            ratios = ds["energy_error"].values[0] / test_e[0], ds["forces_error"].values[0, 0] / test_f[0]
        ds["rotational_over_test_energy"] = variable((), ratios[0], "1",
                                                     "rotational error / test error of the plain model, energy")
        ds["rotational_over_test_forces"] = variable((), ratios[1], "1",
                                                     "rotational error / test error of the plain model, forces")
    ds["spread_energy"] = variable(("structure",), np.array(out["spread_energy"]) * 1e3, "meV",
                                   "standard deviation of E over random rotations")
    ds["spread_forces"] = variable(("structure",), np.array(out["spread_forces"]) * 1e3, "meV/angstrom",
                                   "standard deviation of the back-rotated forces over random rotations, "
                                   "mean over atoms and components")
    if len(out["channel_variance"]):
        channels = np.array(out["channel_variance"])
        ds = ds.assign_coords(l=variable(("l",), np.arange(1, channels.shape[1] + 1), "1", "angular momentum channel"))
        ds["channel_variance"] = variable(("structure", "l"), channels * 1e6, "meV^2",
                                          "variance of E over rotations in channel l")
    return finish(ds, "rotvar", **params)


def evaluation(structures, energies, forces, predicted_energies, predicted_forces, index=None, **params):
    """The "eval" result (docs/results.md): per-structure predictions and errors, and the MAE and
    RMSE of energies (meV per structure, per atom) and forces (meV/Å, all atoms and per element)
    of a model on labelled structures. Energies (S,) eV, forces [(N, 3)] eV/Å."""
    numbers = [s[2] for s in structures]
    n_atoms = np.array([len(z) for z in numbers])
    de = (np.asarray(predicted_energies) - energies) * 1e3
    labels, mae, rmse = force_errors(numbers, predicted_forces, forces)
    per_structure = [force_errors([z], [p], [r])[1][0] for z, p, r in zip(numbers, predicted_forces, forces)]
    s = ("structure",)
    ds = xr.Dataset(
        {"energy": variable(s, energies, "electronvolt", "reference energy"),
         "energy_predicted": variable(s, predicted_energies, "electronvolt", "predicted energy"),
         "energy_error": variable(s, de, "meV", "predicted - reference energy"),
         "energy_error_per_atom": variable(s, de / n_atoms, "meV", "predicted - reference energy per atom"),
         "forces_error": variable(s, per_structure, "meV/angstrom", "mean |F_predicted - F_reference| per force component"),
         "n_atoms": variable(s, n_atoms, "1", "atoms in the structure"),
         **{name: variable((), value, "meV", ENERGY_ERRORS[name])
            for name, value in energy_errors(predicted_energies, energies, n_atoms).items()},
         "forces_mae": variable(("species",), mae, "meV/angstrom", "MAE of force components"),
         "forces_rmse": variable(("species",), rmse, "meV/angstrom", "RMSE of force components")},
        coords={"structure": _structure(np.arange(len(structures)) if index is None else index),
                "species": _species(labels)})
    return finish(ds, "eval", n_structures=len(structures), **params)


# ------------------------------------------------------------------ tables (views of the results)

def eval_table(ds):
    """(columns, rows) of an "eval" result: quantity, unit, MAE, RMSE."""
    rows = [["energy per structure", "meV", float(ds["energy_mae"]), float(ds["energy_rmse"])],
            ["energy per atom", "meV", float(ds["energy_per_atom_mae"]), float(ds["energy_per_atom_rmse"])]]
    for label in ds["species"].values:
        rows.append([f"forces, {'all atoms' if label == 'total' else label}", "meV/Å",
                     float(ds["forces_mae"].sel(species=label)), float(ds["forces_rmse"].sel(species=label))])
    return [("quantity", None), ("unit", None), ("MAE", None), ("RMSE", None)], rows


def grid_table(ds):
    """(columns [(name, unit)], rows) of a "rotvar" result: one row per grid, a column per
    variable along the grid (per species for forces_error), each error beside its value."""
    columns, values = [("grid", None)], [ds["grid"].values.astype(str)]
    for name, var in ds.data_vars.items():
        unit = var.attrs["units"].replace("angstrom", "Å")
        if var.dims == GRID:
            columns.append((name, unit))
            values.append(var.values)
        elif var.dims == GRID + ("species",):
            for label in ds["species"].values:
                columns.append((f"{name}[{label}]", unit))
                values.append(var.sel(species=label).values)
    return columns, [list(row) for row in zip(*values)]


def format_table(columns, rows, style="text"):
    """A table as text (aligned; units in the headers; an error column shown as ±), tsv (full
    names and units, 10 digits) or json (a list of {name: value}; NaN as null)."""
    if style == "json":
        def plain(v):
            return (float(v) if np.isfinite(v) else None) if isinstance(v, (float, np.floating)) else v
        return json.dumps([{name: plain(v) for (name, _), v in zip(columns, row)} for row in rows], indent=2)
    text = style == "text"

    def cell(v):
        if isinstance(v, (float, np.floating, int, np.integer)):
            return f"{v:.5g}" if text else f"{v:.10g}"
        return str(v)

    header = [("±" if text and name.endswith("_err") else name) + (f"[{unit}]" if unit else "") for name, unit in columns]
    cells = [[cell(v) for v in row] for row in rows]
    if not text:
        return "\n".join("\t".join(line) for line in [header] + cells)
    width = [max(len(line[c]) for line in [header] + cells) for c in range(len(columns))]
    numeric = [all(not isinstance(row[c], str) for row in rows) for c in range(len(columns))]
    return "\n".join("  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(line, width, numeric)).rstrip()
                     for line in [header] + cells)
