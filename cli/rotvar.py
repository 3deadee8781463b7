"""eqt-rotvar: how much a model breaks rotational symmetry, and which averaging grid fixes it."""
import os
import sys

import click
import numpy as np
from tqdm import tqdm

from eqt_analysis.errors import InputError
from eqt_model.rotations import GridType

from . import parallel
from .common import ase_calculator, claim_result, command, eqt_command, json_option, output_option, quiet_option, write_result


def _columns(ctx, param, text):
    if text is None:
        return None
    pairs = [[s.strip() for s in item.split("=", 1)] for item in text.split(",")]
    if any(len(pair) != 2 or not all(pair) for pair in pairs):
        raise click.BadParameter(f"must look like GRID=COLUMN,..., got {text!r}")
    return dict(pairs)


def _show(ds, style, where):
    """The grid table on stdout (stderr when the result goes to stdout), the ratios on stderr."""
    from eqt_model import rotvar

    if int(ds.attrs.get("n_structures", 2)) == 1:
        from eqt_analysis.trajectory import warn

        warn("one structure: the standard errors (±) need several and are NaN; give more structures "
             "(or a larger --max-structures)")
    click.echo(rotvar.format_table(*rotvar.grid_table(ds), style), err=where.output.kind == "stdout")
    if "rotational_over_test_energy" in ds:
        click.echo(f"rotational/test error of the plain model: energy {float(ds['rotational_over_test_energy']):.3g}, "
                   f"forces {float(ds['rotational_over_test_forces']):.3g}", err=True)


def _from_properties(properties, columns, skip, n_atoms, output, style):
    """The convergence table of energies recorded by i-PI or eqt-md --record / --replay (no model run)."""
    from eqt_analysis.io import ipi, netcdf
    from eqt_model import rotvar

    where = claim_result(properties, "rotvar", output)
    if not os.path.exists(properties):
        raise InputError("no such file", properties)
    if netcdf.is_eqt_netcdf(properties):
        props, atoms, grids = _recorded(properties, columns is None)
        columns = columns or grids
        skip, n_atoms = skip or 0, n_atoms or atoms
    else:
        props = ipi.read_properties(properties)
        skip, n_atoms = 1 if skip is None else skip, n_atoms or 1
    ds = rotvar.from_properties(props, columns, skip, n_atoms, properties)
    _show(ds, style, where)
    write_result(ds, where)


def _recorded(path, need_grids=True):
    """({name: (values, units)} of the per-frame series, atoms, {grid: name} of the recorded energies, from their
    grid attributes when need_grids) of an eqt trajectory."""
    from eqt_analysis import io

    ds = io.open_trajectory(path)
    series = {name: (var.values, var.attrs.get("units", "")) for name, var in ds.data_vars.items()
              if var.dims == ("frame",)}
    if not need_grids:
        return series, ds.sizes["atom"], None
    missing = [name for name in ("energy_plain", "energy_averaged") if name in ds and "grid" not in ds[name].attrs]
    if missing:
        raise InputError(f"{', '.join(missing)} without a grid attribute: name the grids with --columns "
                         "(e.g. 1=energy_plain,2i=energy_averaged)", path)
    grids = {ds[name].attrs["grid"]: name for name in ("energy_plain", "energy_averaged") if name in ds}
    if len(grids) < 2:
        raise InputError("no recorded energies (energy_plain, energy_averaged: run eqt-md with --record GRID "
                         "or --replay)", path)
    return series, ds.sizes["atom"], grids


@eqt_command()
@click.argument("model_file", metavar="[MODEL]", required=False)
@click.argument("structures", metavar="[STRUCTURES.xyz]", required=False)
@click.option("--calculator", default=None, metavar="MODULE:FACTORY",
              help="Any ASE calculator instead of an eqt model: FACTORY() must return it "
                   "(then give only STRUCTURES).")
@click.option("--from-properties", "properties", default=None, type=click.Path(dir_okay=False),
              help="No model run: an i-PI property file with the plain and averaged models' energies, or an "
                   "eqt-md trajectory recorded with --record GRID (or made by --replay).")
@click.option("--columns", default=None, metavar="GRID=COLUMN,...", callback=_columns,
              help="Columns of --from-properties per grid. Default: pot_component_raw_0..5 = 1,i,2,2i,3,3i "
                   "(i-PI); energy_plain and energy_averaged with their grids (eqt .nc).")
@click.option("--skip", type=click.IntRange(min=0), default=None,
              help="Rows of --from-properties to drop first. Default: 1 for i-PI files (a replay's start "
                   "structure), 0 for eqt .nc.")
@click.option("--atoms", "n_atoms", type=click.IntRange(min=1), default=None,
              help="Atoms per structure, for per-atom errors with --from-properties. Default: 1 for i-PI files, "
                   "the trajectory's atoms for eqt .nc.")
@click.option("--grids", type=GridType(many=True), default="1,i,2,2i,3,3i", show_default=True, metavar="GRID,...",
              help="Averaging grids, coarse to fine (the last is the reference): 1 (plain), i, 2, 2i, 3, 3i, "
                   "L<order>[i], lebedev<N>[i].")
@click.option("--n-random", type=click.IntRange(min=2), default=16, show_default=True,
              help="Random rotations for the per-structure spread.")
@click.option("--l-max", type=click.IntRange(min=0, max=4), default=0, show_default=True,
              help="Also split the rotational variance of E into angular-momentum channels l = 1..L.")
@click.option("--test-split", is_flag=True, help="Only the structures the model held out for testing "
                                                 "(when STRUCTURES is its training file).")
@click.option("--max-structures", type=click.IntRange(min=1), default=None, metavar="N",
              help="At most N structures, evenly spread over STRUCTURES (after --test-split). Default: all.")
@click.option("--plan", is_flag=True, help="Only print the number of evaluations and an estimated time.")
@json_option
@click.option("--tsv", is_flag=True, help="Print the table as tab-separated values (full names, 10 digits).")
@click.option("--energy-key", default="energy", show_default=True,
              help="Name of the energy label (eV) in STRUCTURES.xyz, for the test errors.")
@click.option("--forces-key", default="forces", show_default=True,
              help="Name of the forces label (eV/Å) in STRUCTURES.xyz, for the test errors.")
@click.option("--no-labels", is_flag=True,
              help="Ignore energies and forces in STRUCTURES.xyz (e.g. frames of an MD run with this model: its own "
                   "values, not reference labels): no test errors.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random rotations.")
@click.option("--memory", type=click.IntRange(min=16), default=1024, show_default=True, metavar="MB",
              help="Work space of the model calls: structures under 192 atoms evaluate as many rotations at a "
                   "time as fit it (about 1 MB per atom and rotation for the example model in float64; larger "
                   "structures one rotation at a time); Python, JAX and the compiled programs take about 0.4 GB more.")
@parallel.options
@output_option("NetCDF result", "the input's name with .rotvar.nc in the current folder")
@quiet_option
@command
def main(model_file, structures, calculator, properties, columns, skip, n_atoms, grids, n_random, l_max, test_split,
         max_structures, plan, as_json, tsv, energy_key, forces_key, no_labels, seed, memory, workers, scheduler,
         output, quiet):
    """Rotational symmetry breaking of a model on STRUCTURES.xyz: per-structure spread of E and
    of back-rotated forces over random rotations; convergence of |E_grid - E_finest| and
    |F_grid - F_finest| over averaging grids (meV per structure and per atom; meV/Å over all
    atoms and per element); with labels, the test errors of the plain and averaged models and
    the ratio rotational/test error; optionally the ℓ-resolved variance. The table goes to
    stdout (stderr with -o -), the data to NetCDF.

    \b
    Examples:
      eqt-rotvar example_data/model.pkl ../shared/data/water_test.xyz --test-split --grids 1,2,3
      eqt-rotvar --calculator mypkg.calc:make water.xyz --l-max 3
      eqt-rotvar --from-properties replay.out --atoms 192
      eqt-rotvar --from-properties md.nc   (eqt-md ... --record 2i)
    """
    style = "json" if as_json else "tsv" if tsv else "text"
    if as_json and tsv:
        raise InputError("choose --json or --tsv, not both")
    if properties and (max_structures or test_split):
        raise InputError("--max-structures and --test-split select structures; with --from-properties use --skip")
    if properties:
        return _from_properties(properties, columns, skip, n_atoms, output, style)
    structures = structures or (model_file if calculator else None)
    if not structures or not (calculator or model_file):
        raise InputError("give MODEL and STRUCTURES.xyz (or --calculator, or --from-properties)")
    if calculator and test_split:
        raise InputError("--test-split needs an eqt model: the split is recorded in its file")
    if not os.path.exists(structures):
        raise InputError("no such file", structures)
    where = None if plan else claim_result([structures] + ([] if calculator else [model_file]), "rotvar", output)
    import jax

    jax.config.update("jax_enable_x64", True)  # measure the model, not float32 noise
    from eqt_model import data as datamod
    from eqt_model import rotvar
    from eqt_model.calculator import Potential, ase_evaluator

    potential = None if calculator else Potential(model_file, memory=memory)
    evaluate = ase_evaluator(ase_calculator(calculator)) if calculator else potential.over_rotations
    frames, energies, forces = datamod.read(structures, energy_key, forces_key, require_labels=False)
    if no_labels:
        energies, forces = np.full(len(frames), np.nan), [np.full((len(a), 3), np.nan) for a in frames]
    index = potential.test_split(len(frames), structures) if test_split else np.arange(len(frames))
    if max_structures and len(index) > max_structures:
        index = index[np.linspace(0, len(index) - 1, max_structures).round().astype(int)]
    items = rotvar.structures([frames[i] for i in index])
    if plan:
        click.echo("\n".join(rotvar.plan(evaluate, items, grids, n_random, l_max)))
        return
    remote = parallel.remote_model("rotations", model_file, calculator, memory, x64=True)
    with parallel.client(workers, scheduler) as dask_client, \
            tqdm(total=len(items), unit="structure", disable=quiet, file=sys.stderr, desc="rotvar") as bar:
        out = rotvar.report(evaluate, items, n_random, grids, l_max, seed, bar.update, structures,
                            parallel.mapper(dask_client), remote if dask_client else None)
    ds = rotvar.result(out, items, energies[index], [forces[i] for i in index], index, model=model_file or calculator,
                       n_random=n_random, l_max=l_max, seed=seed, test_split=int(test_split))
    _show(ds, style, where)
    write_result(ds, where)
