"""eqt-rotvar: how much a model breaks rotational symmetry, and which averaging grid fixes it."""
import importlib
import json
import os
import sys
import time

import click
import numpy as np
from ase.data import chemical_symbols
from tqdm import tqdm

from eqt_analysis import rotvar as stats
from eqt_analysis.errors import InputError
from eqt_analysis.io import ipi

from .common import claim_result, command, eqt_command, write_result


def _calculator(spec):
    module, _, factory = spec.partition(":")
    if not module or not factory:
        raise InputError(f"--calculator must look like module:factory, got {spec!r}")
    try:
        return getattr(importlib.import_module(module), factory)()
    except Exception as err:  # any failure of the user's factory is bad input here
        raise InputError(f"cannot build the calculator {spec}: {type(err).__name__}: {err}") from None


def _print(table, fmt):
    rows = [{"grid": str(g), **{k: float(table[k].values[i]) for k in table.data_vars if table[k].dims == ("grid",)}}
            for i, g in enumerate(table["grid"].values)]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    keys = [k for k in rows[0] if k != "grid"]
    sep = "\t" if fmt == "tsv" else "  "
    click.echo(sep.join(["grid"] + keys))
    for row in rows:
        click.echo(sep.join([row["grid"]] + [f"{row[k]:.6g}" for k in keys]))


@eqt_command()
@click.argument("model_file", metavar="[MODEL]", required=False)
@click.argument("structures", metavar="[STRUCTURES.xyz]", required=False)
@click.option("--calculator", default=None, metavar="MODULE:FACTORY",
              help="Any ASE calculator instead of an eqt model: FACTORY() must return it "
                   "(then give only STRUCTURES).")
@click.option("--from-properties", "properties", default=None, type=click.Path(dir_okay=False),
              help="No model run: an i-PI property file with the plain and averaged models' energies.")
@click.option("--columns", default=None, metavar="GRID=COLUMN,...",
              help="Columns of --from-properties per grid. Default: pot_component_raw_0..5 = 1,i,2,2i,3,3i.")
@click.option("--skip", type=click.IntRange(min=0), default=1, show_default=True,
              help="Rows of --from-properties to drop first (i-PI replays: the start structure).")
@click.option("--atoms", "n_atoms", type=click.IntRange(min=1), default=1, show_default=True,
              help="Atoms per structure, for per-atom errors with --from-properties.")
@click.option("--grids", default="1,i,2,2i,3,3i", show_default=True, help="Averaging grids, coarse to fine.")
@click.option("--n-random", type=click.IntRange(min=2), default=16, show_default=True,
              help="Random rotations for the per-structure spread.")
@click.option("--l-max", type=click.IntRange(min=0, max=4), default=0, show_default=True,
              help="Also split the rotational variance of E into angular-momentum channels l = 1..L.")
@click.option("--plan", is_flag=True, help="Only print the number of evaluations and an estimated time.")
@click.option("--format", "fmt", type=click.Choice(["table", "tsv", "json"]), default="table", show_default=True)
@click.option("--energy-key", default="energy", show_default=True)
@click.option("--forces-key", default="forces", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--memory", type=click.IntRange(min=16), default=1024, show_default=True, metavar="MB",
              help="Work space of the batched model calls: rotations per call are sized to fit it (about "
                   "200 MB per rotation of 192 atoms for the example model); Python, JAX and the compiled "
                   "programs take about 0.4 GB more.")
@click.option("--output", "-o", default=None, help="NetCDF result. Default: <input>.rotvar.nc.")
@click.option("--quiet", "-q", is_flag=True)
@command
def main(model_file, structures, calculator, properties, columns, skip, n_atoms, grids, n_random, l_max,
         plan, fmt, energy_key, forces_key, seed, memory, output, quiet):
    """Rotational symmetry breaking of a model on STRUCTURES.xyz: per-structure spread of E and
    of back-rotated forces over random rotations; convergence of |E_grid - E_finest| and
    |F_grid - F_finest| over averaging grids (meV per structure, per atom; meV/Å per element);
    with labels, the plain and averaged test errors and the ratio rotational/test error;
    optionally the ℓ-resolved variance. The table goes to stdout, the data to NetCDF.

    \b
    Examples:
      eqt-rotvar example_data/model.pkl water.xyz --l-max 3
      eqt-rotvar --calculator mypkg.calc:make water.xyz
      eqt-rotvar --from-properties replay.out --atoms 192
    """
    if properties:
        where = claim_result(properties, "rotvar", output)
        if not os.path.exists(properties):
            raise InputError("no such file", properties)
        mapping = None
        if columns:
            mapping = dict(item.split("=", 1) for item in columns.split(","))
        table = stats.from_properties(ipi.read_properties(properties), mapping, skip, n_atoms)
        _print(table, fmt)
        write_result(table, where)
        return
    import jax

    from eqt_model import rotations, rotvar
    from eqt_model import data as datamod
    from eqt_model.calculator import Potential

    if calculator:
        structures = structures or model_file
    elif not model_file or not structures:
        raise InputError("give MODEL and STRUCTURES.xyz (or --calculator, or --from-properties)")
    if not structures or not os.path.exists(structures):
        raise InputError("no such file", structures)
    where = None if plan else claim_result([structures] + ([] if calculator else [model_file]), "rotvar", output)
    if calculator:
        evaluate = rotvar.ase_evaluator(_calculator(calculator))
    else:
        jax.config.update("jax_enable_x64", True)  # measure the model, not float32 noise
        evaluate = rotvar.eqt_evaluator(Potential(model_file, memory=memory))
    grid_names = [g.strip() for g in grids.split(",") if g.strip()]
    sizes = {g: len(rotations.grid(g, seed)[0]) for g in grid_names}
    frames, energies, forces = datamod.read(structures, energy_key, forces_key, require_labels=False)
    items = [(a.positions, a.cell.array if a.pbc.any() else None, a.numbers, a.pbc) for a in frames]
    per_structure = n_random + sum(sizes.values()) + ((2 * l_max + 1) ** 2 * (l_max + 1) if l_max else 0)
    if plan:
        evaluate(*items[0], np.eye(3)[None])  # compile
        t0 = time.perf_counter()
        evaluate(*items[0], np.eye(3)[None])
        each = time.perf_counter() - t0
        for g, n in sizes.items():
            click.echo(f"grid {g:>4}: {n:4d} rotation{'s' if n > 1 else ''}")
        click.echo(f"{len(items)} structures x {per_structure} evaluations = {len(items) * per_structure}; "
                   f"about {len(items) * per_structure * each:.0f} s at {each * 1e3:.1f} ms each "
                   "(batching makes eqt models faster than this)")
        return
    with tqdm(total=len(items), unit="structure", disable=quiet, file=sys.stderr, desc="rotvar") as bar:
        out = rotvar.report(evaluate, items, n_random, grid_names, l_max, seed, bar.update)
    finest = grid_names[-1]
    n = np.array([len(a) for a in frames])
    table = stats.convergence_table({g: np.array(out["energy"][g]) for g in grid_names}, float(np.mean(n)))
    elements = sorted({int(z) for a in frames for z in a.numbers})
    for z in elements:
        per_grid = []
        for g in grid_names:
            diffs = [np.abs(f_g - f_ref)[a.numbers == z] for f_g, f_ref, a in zip(out["forces"][g], out["forces"][finest], frames)]
            per_grid.append(np.mean(np.concatenate(diffs)) * 1e3)
        table[f"forces_mae_{chemical_symbols[z]}"] = ("grid", per_grid, {"units": "meV/angstrom",
                                                                        "long_name": f"mean |F_grid - F_finest| on {chemical_symbols[z]}"})
    labelled = np.all(np.isfinite(energies))
    if labelled:
        e_err = {g: np.mean(np.abs(np.array(out["energy"][g]) - energies)) * 1e3 for g in grid_names}
        f_err = {g: np.mean(np.concatenate([np.abs(f - ref).ravel() for f, ref in zip(out["forces"][g], forces)])) * 1e3
                 for g in grid_names}
        table["test_energy_mae"] = ("grid", [e_err[g] for g in grid_names], {"units": "meV"})
        table["test_forces_mae"] = ("grid", [f_err[g] for g in grid_names], {"units": "meV/angstrom"})
        plain = grid_names[0]
        rot_f = float(np.mean(np.concatenate([np.abs(a - b).ravel() for a, b in zip(out["forces"][plain], out["forces"][finest])])) * 1e3)
        table.attrs.update(rotational_over_test_energy=float(table["mae"].values[0] / e_err[plain]),
                           rotational_forces_mae=rot_f, rotational_over_test_forces=rot_f / f_err[plain])
    table["spread_energy"] = ("structure", np.array(out["spread_energy"]), {"units": "electronvolt"})
    table["spread_forces"] = ("structure", np.array(out["spread_forces"]), {"units": "electronvolt/angstrom"})
    if l_max:
        table["channel_variance"] = (("structure", "l"), np.array(out["channel_variance"]),
                                     {"units": "electronvolt^2", "long_name": "variance of E over rotations in channel l"})
        table = table.assign_coords(l=np.arange(1, l_max + 1))
    _print(table, fmt)
    if labelled:
        click.echo(f"rotational/test error: energy {table.attrs['rotational_over_test_energy']:.3g}, "
                   f"forces {table.attrs['rotational_over_test_forces']:.3g}", err=True)
    write_result(table, where)
