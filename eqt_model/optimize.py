"""Geometry relaxation (positions only, cell fixed) with any model, through ASE's optimizers.

A model is `energy_and_forces(positions, cell or None, numbers, pbc) -> (E eV, F (N, 3) eV/Å)`,
as calculator.Potential.energy_and_forces or `model_function` builds from an averaging evaluator
(an eqt model's Potential.over_rotations, or any ASE calculator through
calculator.ase_evaluator): plain, averaged over a rotations.Grid, or randomly rotated at every
call. `FunctionCalculator` makes it an ASE calculator; `relax` runs one ASE optimizer (BFGS,
LBFGS or FIRE) on one structure; `relax_all` relaxes every structure with every model,
keeping the finished relaxations and the positions of one stopped midway (`checkpoint_arrays`,
`from_checkpoint`); `result` builds the "opt" result (docs/results.md) with dimensions (model,
structure), `relaxed_frames` the relaxed structures (ASE Atoms with energy and forces) and
`table` the printed view.

Energies per molecule count waters (O, H, H within 1.5 Å) when every atom is in one, else
atoms. Relative energies are per molecule, relative to the lowest structure of the same
model (start structures against start structures, relaxed against relaxed), in meV.
"""
import json
import time
import warnings
from typing import NamedTuple

import numpy as np
import xarray as xr
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator

from eqt_analysis.errors import InputError
from eqt_analysis.molecules import find_waters
from eqt_analysis.results import finish, variable
from eqt_analysis.trajectory import EqtWarning

from . import averaging, rotations

OPTIMIZERS = ("BFGS", "LBFGS", "FIRE")  # BFGS keeps a dense 3N x 3N Hessian: LBFGS or FIRE for large cells


class FunctionCalculator(Calculator):
    """An ASE calculator (energy, free_energy, forces) of a model function
    `energy_and_forces(positions, cell or None, numbers, pbc)`; cell None for open structures."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, energy_and_forces, **kwargs):
        super().__init__(**kwargs)
        self.energy_and_forces = energy_and_forces

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        e, f = self.energy_and_forces(a.positions, a.cell.array if a.pbc.any() else None, a.numbers, a.pbc)
        if not (np.isfinite(e) and np.all(np.isfinite(f))):
            raise InputError("the model gave a NaN or infinite energy or force")
        self.results = {"energy": float(e), "free_energy": float(e), "forces": np.asarray(f, float)}


def model_function(evaluate, average=None, random_rotation=False, seed=0):
    """The model function of an averaging evaluator (averaging module): the plain model
    (average None), its average over a rotations.Grid, and/or a fresh random rotation (seeded)
    at every call."""
    if random_rotation:
        evaluate = averaging.randomly_rotated(evaluate, seed)
    return averaging.average(evaluate, rotations.IDENTITY if average is None else average)


def models(evaluate, average=None, random_rotation=False, seed=0, compare=None):
    """{label: model function} of an averaging evaluator: one model (plain, averaged over the
    Grid `average`, or randomly rotated: labels "plain", the grid's name, "random"), or with
    `compare` (a Grid) the plain model and its average over that grid."""
    if compare is not None:
        return {"plain": model_function(evaluate), compare.name: model_function(evaluate, compare)}
    label = "random" if random_rotation else average.name if average is not None else "plain"
    return {label: model_function(evaluate, average, random_rotation, seed)}


class Relaxation(NamedTuple):
    """One relaxed structure: `atoms` (a copy, relaxed positions, energy and forces attached),
    the start's energy (eV) and positions (Å), the energies and largest atomic force norms
    (eV/Å) before and after, optimizer steps taken and whether max |F| < fmax was reached."""

    atoms: Atoms
    start: np.ndarray
    energy_initial: float
    fmax_initial: float
    energy: float
    fmax: float
    steps: int
    converged: bool


def _max_force(forces):
    return float(np.sqrt(np.max(np.sum(np.asarray(forces) ** 2, axis=1)))) if len(forces) else 0.0


def relax(atoms, calculator, optimizer="BFGS", fmax=0.01, steps=500, observe=None, from_positions=None,
          steps_done=0, keep=None):
    """Relax the positions of a copy of `atoms` (cell fixed) with `calculator` (an ASE
    calculator) and ASE's `optimizer` ("BFGS", "LBFGS" or "FIRE") until every atomic force is below
    `fmax` eV/Å or `steps` optimizer steps are taken; from `from_positions` (N, 3) Å when given
    (the energy before is still that of `atoms`). A relaxation resumed from the positions where
    an earlier one stopped passes its `steps_done`: they count against `steps` (the optimizer's
    memory, e.g. BFGS's Hessian, starts afresh). observe(step, max force) is called after
    each force evaluation, keep(positions, steps taken, stopping) after each step and, with
    stopping True, when the relaxation is interrupted (any exception but an InputError).
    Returns a Relaxation; `atoms` is not modified. InputError for an empty structure or a model
    giving NaN or infinite values."""
    import ase.optimize

    if optimizer not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {optimizer!r}: use {', '.join(OPTIMIZERS)}")
    if len(atoms) == 0:
        raise InputError("a structure without atoms")
    if not fmax > 0 or steps < 0:
        raise InputError(f"fmax must be positive and steps non-negative (got {fmax}, {steps})")
    work = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    work.calc = calculator
    start = work.positions.copy()
    e0, f0 = work.get_potential_energy(), _max_force(work.get_forces())
    if from_positions is not None:
        work.positions = from_positions
    opt = getattr(ase.optimize, optimizer)(work, logfile=None)
    if observe:
        opt.attach(lambda: observe(steps_done + opt.nsteps, _max_force(work.get_forces())))
    if keep:
        opt.attach(lambda: keep(work.positions, steps_done + opt.nsteps, False))
    try:
        converged = bool(opt.run(fmax=fmax, steps=max(steps - steps_done, 0)))
    except InputError:
        raise
    except BaseException:
        if keep:
            keep(work.positions, steps_done + opt.nsteps, True)
        raise
    energy, forces = work.get_potential_energy(), work.get_forces()
    out = _copy_extras(atoms, work.positions)
    out.calc = SinglePointCalculator(out, energy=energy, forces=forces.copy())
    return Relaxation(out, start, float(e0), f0, float(energy), _max_force(forces), steps_done + int(opt.nsteps),
                      converged)


class Unfinished(NamedTuple):
    """A relaxation stopped midway: model `label`, `structure` index, optimizer `steps` taken
    and the `positions` (N, 3) Å reached, from which it resumes."""

    label: str
    structure: int
    steps: int
    positions: np.ndarray


_RESERVED = {"numbers", "positions", "forces", "momenta", "energy", "free_energy"}


def _copy_extras(atoms, positions):
    """A fresh Atoms with `positions` and the cell, pbc and extra per-atom arrays of `atoms`
    (labels such as energy and forces left behind)."""
    out = Atoms(numbers=atoms.numbers, positions=positions, cell=atoms.cell, pbc=atoms.pbc)
    for name, values in atoms.arrays.items():
        if name not in _RESERVED:
            out.new_array(name, values.copy())
    return out


def check_species(frames, species, source=None):
    """InputError (naming the structure and `source`) for a structure with an element outside
    `species` (a model's atomic numbers): before any relaxation, not after hours of them."""
    for k, atoms in enumerate(frames):
        unknown = sorted(set(int(z) for z in atoms.numbers) - set(int(z) for z in species))
        if unknown:
            raise InputError(f"structure {k}: species {unknown} unknown to the model (it knows {list(species)})",
                             source)


def count_molecules(atoms):
    """Waters in `atoms` when every atom belongs to one, else the number of atoms."""
    cell = atoms.cell.array if atoms.pbc.any() else None
    waters = find_waters(atoms.numbers, atoms.positions, cell, atoms.pbc if cell is not None else False)
    return len(waters) if len(waters) and 3 * len(waters) == len(atoms) else len(atoms)


def relax_all(frames, models, optimizer="BFGS", fmax=0.01, steps=500, source=None, progress=None, observe=None,
              warm_start=False, finished=None, save=None, unfinished=None, save_every=60.0):
    """{label: [Relaxation per structure]} of every structure (ASE Atoms) with every model
    ({label: model function}), structure by structure. With `warm_start` the models after the
    first relax from the first model's relaxed structure (their difference is then the shift of
    the minimum, not that of two optimizer paths). `finished` ({label: {k: Relaxation}}, from a
    checkpoint) are kept, not redone, and the relaxation `unfinished` (an Unfinished) resumes
    from its positions. save(finished, unfinished or None) after each new relaxation, and
    during one every `save_every` s of wall time and when it is interrupted. An InputError
    names the structure and `source` (the file); a structure that does not converge is kept,
    with an EqtWarning. progress(1) after each relaxation; observe(label, k, step, max force)
    during it."""
    done = {label: dict((finished or {}).get(label, {})) for label in models}
    first = next(iter(models))
    for k, atoms in enumerate(frames):
        for label, function in models.items():
            if k in done[label]:
                r = done[label][k]
            else:
                watch = (lambda step, f, label=label, k=k: observe(label, k, step, f)) if observe else None
                start = done[first][k].atoms.positions if warm_start and label != first else None
                steps_done = 0
                if unfinished is not None and (unfinished.label, unfinished.structure) == (label, k):
                    start, steps_done = unfinished.positions, unfinished.steps
                keep = _keeper(save, done, label, k, save_every) if save else None
                try:
                    r = relax(atoms, FunctionCalculator(function), optimizer, fmax, steps, watch, start,
                              steps_done, keep)
                except InputError as err:
                    raise InputError(f"structure {k}: {err}", source) from None
                done[label][k] = r
                if save:
                    save(done, None)
            if not r.converged:
                warnings.warn(f"{source}: structure {k} ({label} model) not converged in {r.steps} steps: "
                              f"max force {r.fmax:.3g} eV/Å > {fmax:g}", EqtWarning, stacklevel=2)
            if progress:
                progress(1)
    return {label: [done[label][k] for k in range(len(frames))] for label in models}


def _keeper(save, done, label, k, every):
    """relax's keep: save(done, Unfinished) every `every` s of wall time and when stopping."""
    last = time.monotonic()

    def keep(positions, steps_taken, stopping):
        nonlocal last
        if stopping or time.monotonic() - last >= every:
            save(done, Unfinished(label, k, int(steps_taken), np.array(positions, float)))
            last = time.monotonic()
    return keep


def checkpoint_arrays(finished, settings, unfinished=None):
    """Arrays (for numpy.savez) of relax_all's finished relaxations {label: {k: Relaxation}} and
    the `unfinished` one (an Unfinished or None), with `settings` (a JSON-able dict saying which
    run they belong to)."""
    records, arrays = [], {}
    for label, runs in finished.items():
        for k, r in runs.items():
            i = len(records)
            records.append(dict(label=label, structure=k, energy_initial=r.energy_initial,
                                fmax_initial=r.fmax_initial, energy=r.energy, fmax=r.fmax, steps=r.steps,
                                converged=r.converged))
            arrays[f"positions_{i}"] = r.atoms.positions
            arrays[f"forces_{i}"] = r.atoms.get_forces()
    if unfinished is not None:
        arrays["unfinished"] = np.array(json.dumps(dict(label=unfinished.label, structure=unfinished.structure,
                                                        steps=unfinished.steps)))
        arrays["unfinished_positions"] = unfinished.positions
    arrays["settings"] = np.array(json.dumps(settings, sort_keys=True))
    arrays["records"] = np.array(json.dumps(records))
    return arrays


def from_checkpoint(arrays, settings, frames):
    """(finished relaxations {label: {k: Relaxation}}, the unfinished one or None) of
    checkpoint_arrays' `arrays`, for `frames`; InputError naming the first setting that differs
    from `settings` (another run's checkpoint)."""
    saved = json.loads(str(arrays["settings"]))
    for key in sorted(set(saved) | set(settings)):
        if saved.get(key) != settings.get(key):
            raise InputError(f"holds another eqt-opt run ({key} {saved.get(key)} there, {settings.get(key)} now): "
                             "rerun with its settings to finish it, or remove it")
    finished = {}
    for i, rec in enumerate(json.loads(str(arrays["records"]))):
        atoms = frames[rec["structure"]]
        out = _copy_extras(atoms, arrays[f"positions_{i}"])
        out.calc = SinglePointCalculator(out, energy=rec["energy"], forces=arrays[f"forces_{i}"])
        finished.setdefault(rec["label"], {})[rec["structure"]] = Relaxation(
            out, atoms.positions.copy(), rec["energy_initial"], rec["fmax_initial"], rec["energy"], rec["fmax"],
            rec["steps"], rec["converged"])
    unfinished = None
    if "unfinished" in arrays:
        rec = json.loads(str(arrays["unfinished"]))
        positions = np.asarray(arrays["unfinished_positions"], float)
        if positions.shape != (len(frames[rec["structure"]]), 3):
            raise ValueError("unfinished positions of the wrong shape")
        unfinished = Unfinished(rec["label"], rec["structure"], rec["steps"], positions)
    return finished, unfinished


def rms_difference(a, b):
    """Root-mean-square distance (Å) between the atoms of positions a and b (N, 3) after
    removing the mean displacement."""
    d = np.asarray(a, float) - b
    d = d - d.mean(axis=0)
    return float(np.sqrt(np.mean(np.sum(d**2, axis=1)))) if len(d) else 0.0


def _relative(energies, n_molecules):
    """Energies per molecule relative to the lowest, meV; energies (model, structure) eV."""
    per = np.asarray(energies, float) / n_molecules
    return (per - per.min(axis=1, keepdims=True)) * 1e3


def result(frames, relaxations, **params):
    """The "opt" result (docs/results.md) of relax_all's {label: [Relaxation]} on `frames`;
    with two models or more, also the RMS position difference between the first model's and
    each other's relaxed structures. params: attributes (optimizer, fmax, ...)."""
    labels = list(relaxations)
    runs = [relaxations[m] for m in labels]
    n_atoms = np.array([len(a) for a in frames])
    n_mol = np.array([count_molecules(a) for a in frames])

    def field(name):
        return np.array([[getattr(r, name) for r in rs] for rs in runs])

    ms, s = ("model", "structure"), ("structure",)
    e0, e = field("energy_initial"), field("energy")
    data = {
        "n_atoms": variable(s, n_atoms, "1", "atoms in the structure"),
        "n_molecules": variable(s, n_mol, "1", "water molecules (atoms when not all atoms are in waters)"),
        "energy_initial": variable(ms, e0, "electronvolt", "energy of the start structure"),
        "energy": variable(ms, e, "electronvolt", "energy of the relaxed structure"),
        "relative_energy_initial": variable(ms, _relative(e0, n_mol), "meV",
                                            "energy per molecule of the start structure relative to the lowest "
                                            "start structure (same model)"),
        "relative_energy": variable(ms, _relative(e, n_mol), "meV",
                                    "energy per molecule of the relaxed structure relative to the lowest "
                                    "relaxed structure (same model)"),
        "max_force_initial": variable(ms, field("fmax_initial"), "electronvolt/angstrom",
                                      "largest atomic force norm of the start structure"),
        "max_force": variable(ms, field("fmax"), "electronvolt/angstrom",
                              "largest atomic force norm of the relaxed structure"),
        "steps": variable(ms, field("steps"), "1", "optimizer steps taken"),
        "converged": variable(ms, field("converged").astype(np.int8), "1",
                              "1 when the largest force fell below fmax within the steps, else 0"),
        "rms_displacement": variable(ms, [[np.sqrt(np.mean(np.sum((r.atoms.positions - r.start) ** 2, axis=1)))
                                           for r in rs] for rs in runs], "angstrom",
                                     "root-mean-square displacement of the atoms from the start structure"),
    }
    coords = {"model": variable(("model",), labels, "1", "model: plain, an averaging grid's name, or random"),
              "structure": variable(s, np.arange(len(frames)), "1", "index of the structure in the input file")}
    if len(labels) > 1:
        diff = [[rms_difference(b.atoms.positions, a.atoms.positions) for a, b in zip(runs[0], rs)] for rs in runs[1:]]
        data["rms_position_difference"] = variable(
            ("compared", "structure"), diff, "angstrom",
            f"RMS distance between the atoms relaxed with the {labels[0]} model and with the other "
            "(mean displacement removed)")
        coords["compared"] = variable(("compared",), labels[1:], "1", f"model compared with {labels[0]}")
    return finish(xr.Dataset(data, coords=coords), "opt", n_structures=len(frames), **params)


def describe(label):
    """The model of a label in words: plain, randomly rotated, averaged on grid <name>."""
    return {"plain": "plain", "random": "randomly rotated"}.get(label, f"averaged on grid {label}")


def relaxed_frames(relaxations):
    """The relaxed structures (ASE Atoms with energy and forces), model after model, each with
    info `structure` (index in the input), `model` (describe), `steps` and `converged` (0/1)."""
    frames = []
    for label, runs in relaxations.items():
        for k, r in enumerate(runs):
            atoms = r.atoms.copy()
            atoms.calc = SinglePointCalculator(atoms, energy=r.energy, forces=r.atoms.get_forces())
            atoms.info.update(structure=k, model=describe(label), steps=r.steps, converged=int(r.converged))
            frames.append(atoms)
    return frames


COLUMNS = [("energy", "E", "eV"), ("relative_energy_initial", "dE_start", "meV/mol"),
           ("relative_energy", "dE", "meV/mol"), ("max_force", "Fmax", "eV/Å"), ("steps", "steps", None),
           ("converged", "conv", None), ("rms_displacement", "rms_disp", "Å")]
COMPARED = ("relative_energy_initial", "relative_energy", "converged")


def table(ds):
    """(columns [(name, unit)], rows) of an "opt" result: one row per structure. One model: the
    relaxed energy, the relative energies per molecule before and after, the largest force after, steps,
    convergence and RMS displacement. Several: the relative energies and convergence per
    model and the RMS position differences (the rest is in the result)."""
    many = ds.sizes["model"] > 1
    columns = [("structure", None), ("n_mol", None)]
    values = [ds["structure"].values, ds["n_molecules"].values]
    for name, short, unit in COLUMNS:
        if many and name not in COMPARED:
            continue
        for m in ds["model"].values:
            columns.append((f"{short}[{m}]" if many else short, unit))
            v = ds[name].sel(model=m).values
            values.append(v.astype(int) if v.dtype.kind in "iu" else v)
    if "rms_position_difference" in ds:
        for m in ds["compared"].values:
            columns.append((f"rms_diff[{m}]", "Å"))
            values.append(ds["rms_position_difference"].sel(compared=m).values)
    return columns, [[v.item() for v in row] for row in zip(*values)]
