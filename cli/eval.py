"""eqt-eval: errors of an eqt model against labelled structures."""
import os

import click
import numpy as np
import xarray as xr
from ase.data import chemical_symbols

from eqt_analysis.errors import InputError

from .common import claim_result, command, eqt_command, write_result


@eqt_command()
@click.argument("model_file", metavar="MODEL")
@click.argument("data", metavar="DATA.xyz")
@click.option("--output", "-o", default=None, help="Per-structure results (NetCDF). Default: DATA.eval.nc.")
@click.option("--energy-key", default="energy", show_default=True)
@click.option("--forces-key", default="forces", show_default=True)
@click.option("--test-split", is_flag=True, help="Only the structures the model held out for testing "
                                                 "(when DATA is its training file).")
@click.option("--float64", is_flag=True, help="Evaluate in double precision.")
@click.option("--average", default=None, metavar="GRID",
              help="Evaluate the rotationally averaged model (grid 1, i, 2, 2i, 3, 3i, lebedev50, ...).")
@click.option("--random-rotation", is_flag=True, help="Evaluate with a fresh random rotation per structure.")
@click.option("--memory", type=click.IntRange(min=16), default=1024, show_default=True, metavar="MB",
              help="Work space of the batched model calls: structures (or rotations with --average) per "
                   "call are sized to fit it (about 100 MB each for 192 atoms of the example model in "
                   "float32); Python, JAX and the compiled programs take about 0.4 GB more.")
@command
def main(model_file, data, output, energy_key, forces_key, test_split, float64, average, random_rotation, memory):
    """Mean absolute and root-mean-square errors of MODEL (model.pkl) on DATA.xyz: energies per
    structure and per atom (meV), forces overall and per element (meV/Å). The table goes to
    stdout; per-structure predictions and errors to a NetCDF file.

    \b
    Example:
      eqt-eval example_data/model.pkl water.xyz --test-split
    """
    where = claim_result([data, model_file], "eval", output)
    import jax

    if float64:
        jax.config.update("jax_enable_x64", True)
    from eqt_model import data as datamod
    from eqt_model import modelfile, training

    if not os.path.exists(data):
        raise InputError("no such file", data)
    config, params, meta = modelfile.load(model_file)
    params = jax.tree_util.tree_map(jax.numpy.asarray, params)
    frames, energies, forces = datamod.read(data, energy_key, forces_key)
    if test_split:
        if "split" not in meta:
            raise InputError("the model file records no split", model_file)
        keep = np.asarray(meta["split"]["test"], int)
        if keep.size == 0 or keep.max() >= len(frames):
            raise InputError("the model's test split does not fit this file (another dataset?)", data)
        frames, energies, forces = [frames[i] for i in keep], energies[keep], [forces[i] for i in keep]
    ds = datamod.build(frames, energies, forces, config.species, config.cutoff)
    if average and random_rotation:
        raise InputError("choose --average or --random-rotation, not both")
    if average or random_rotation:
        from eqt_model.calculator import Potential

        potential = Potential(model_file, "random" if random_rotation else average, memory=memory)
        e_pred, f_pred = np.zeros(len(frames)), np.zeros_like(ds.forces)
        for k, atoms in enumerate(frames):
            e_pred[k], f_pred[k, :len(atoms)] = potential.energy_and_forces(
                atoms.positions, atoms.cell.array if atoms.pbc.any() else None, atoms.numbers, atoms.pbc)
    else:
        e_pred, f_pred = training.evaluate(params, config, ds, memory=memory)
    err = training.errors(ds, e_pred, f_pred)
    rows = [("energy per structure", "meV", err["energy_mae"], err["energy_rmse"]),
            ("energy per atom", "meV", err["energy_per_atom_mae"], err["energy_per_atom_rmse"]),
            ("forces, all atoms", "meV/Å", err["forces_mae"], err["forces_rmse"])]
    numbers = np.zeros(ds.atom_mask.shape, int)
    for k, z in enumerate(ds.numbers):
        numbers[k, :len(z)] = z
    for z in sorted(set(np.concatenate(ds.numbers))):
        sel = ds.atom_mask & (numbers == z)
        d = (f_pred - ds.forces)[sel]
        rows.append((f"forces, {chemical_symbols[z]}", "meV/Å", float(np.mean(np.abs(d))), float(np.sqrt(np.mean(d**2)))))
    mode = f"averaged on grid {average}" if average else ("randomly rotated" if random_rotation else "plain")
    click.echo(f"{len(frames)} structures of {data}, {mode} model")
    click.echo(f"{'quantity':<22} {'unit':<6} {'MAE':>10} {'RMSE':>10}")
    for name, unit, mae, rmse in rows:
        click.echo(f"{name:<22} {unit:<6} {mae * 1e3:10.3f} {rmse * 1e3:10.3f}")
    result = xr.Dataset(
        {"energy": ("structure", ds.energy, {"units": "electronvolt", "long_name": "reference energy"}),
         "energy_predicted": ("structure", e_pred, {"units": "electronvolt"}),
         "energy_error_per_atom": ("structure", (e_pred - ds.energy) / ds.n_atoms, {"units": "electronvolt"}),
         "forces_mae": ("structure", np.array([np.mean(np.abs((f_pred[k] - ds.forces[k])[ds.atom_mask[k]]))
                                               for k in range(len(frames))]), {"units": "electronvolt/angstrom"}),
         "n_atoms": ("structure", ds.n_atoms)},
        attrs={k: v for k, v in err.items()})
    write_result(result, where)
