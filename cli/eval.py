"""eqt-eval: errors of an eqt model (plain, averaged or randomly rotated) against labelled structures."""
import os
import sys

import click
import numpy as np
from tqdm import tqdm

from eqt_analysis.errors import InputError

from . import parallel
from .common import (claim_result, command, eqt_command, json_option, model_options, output_option, quiet_option,
                     write_result)


@eqt_command()
@click.argument("model_file", metavar="MODEL")
@click.argument("data", metavar="DATA.xyz")
@output_option("Per-structure predictions and errors (NetCDF)", "DATA's name with .eval.nc in the current folder")
@click.option("--energy-key", default="energy", show_default=True, help="Name of the energy label (eV) in DATA.xyz.")
@click.option("--forces-key", default="forces", show_default=True, help="Name of the forces label (eV/Å) in DATA.xyz.")
@click.option("--test-split", is_flag=True, help="Only the structures the model held out for testing "
                                                 "(when DATA is its training file).")
@model_options("Evaluate", "per structure", memory_help="about 0.5 MB per atom and rotation for the example model "
                                                         "in float32; Python, JAX and the compiled programs take about "
                                                         "0.4 GB more")
@parallel.options
@json_option
@quiet_option
@command
def main(model_file, data, output, energy_key, forces_key, test_split, float64, average, random_rotation, seed,
         memory, workers, scheduler, as_json, quiet):
    """Mean absolute and root-mean-square errors of MODEL (model.pkl) on DATA.xyz: energies per
    structure and per atom (meV), forces over all atoms and per element (meV/Å). The table goes
    to stdout (stderr with -o -); per-structure predictions and errors to a NetCDF file.

    \b
    Example:
      eqt-eval example_data/model.pkl ../shared/data/water_test.xyz --test-split --average 2
    """
    if average is not None and random_rotation:
        raise InputError("choose --average or --random-rotation, not both")
    where = claim_result([data, model_file], "eval", output)
    import jax

    if float64:
        jax.config.update("jax_enable_x64", True)
    from eqt_model import data as datamod
    from eqt_model import rotvar
    from eqt_model.calculator import Potential

    if not os.path.exists(data):
        raise InputError("no such file", data)
    potential = Potential(model_file, average, seed, memory, random_rotation)
    frames, energies, forces = datamod.read(data, energy_key, forces_key)
    index = potential.test_split(len(frames), data) if test_split else np.arange(len(frames))
    structures = rotvar.structures([frames[i] for i in index])
    if random_rotation and (workers or scheduler):
        raise InputError("--random-rotation draws one sequence of rotations: it runs serially (drop --workers/"
                         "--scheduler)")
    remote = parallel.remote_model("model", model_file, None, memory, float64, average.name if average else None)
    with parallel.client(workers, scheduler) as dask_client, \
            tqdm(total=len(index), unit="structure", disable=quiet, file=sys.stderr, desc="eval") as bar:
        predicted = rotvar.predict(potential.energy_and_forces, structures, data, bar.update,
                                   parallel.mapper(dask_client), remote if dask_client else None)
    mode = "randomly rotated" if random_rotation else f"averaged on grid {average.name}" if average else "plain"
    ds = rotvar.evaluation(structures, energies[index], [forces[i] for i in index], *predicted, index=index,
                           model=model_file, mode=mode, test_split=int(test_split), float64=int(float64), seed=seed)
    to_stderr = where.output.kind == "stdout"
    if not as_json:
        click.echo(f"{len(index)} structures of {data}, {mode} model", err=to_stderr)
    click.echo(rotvar.format_table(*rotvar.eval_table(ds), "json" if as_json else "text"), err=to_stderr)
    write_result(ds, where)
