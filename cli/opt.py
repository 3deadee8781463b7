"""eqt-opt: relax structures (positions, cell fixed) with an eqt model or any ASE calculator."""
import functools
import os
import signal
import sys
import time

import click
from tqdm import tqdm

from eqt_analysis.errors import InputError
from eqt_model.rotations import GridType

from .common import (POSITIVE, ase_calculator, atomic_output, claim, claim_result, command, default_output, eqt_command,
                     json_option, model_options, output_option, quiet_option, write_result)
from .outputs import Interrupted, deferred_signals, file_checksum, load_npz, save_npz


def _claim_structures(structures, inputs, where, output, structures_out):
    """The Target of the relaxed structures, checked with the result: a default name
    (<input>.relaxed.xyz) that exists is replaced only by a rerun writing the default result."""
    path = structures_out or default_output(structures, "relaxed")[:-3] + ".xyz"
    rerun = output is None and os.path.exists(where.output.path)
    if structures_out is None and os.path.lexists(path) and not rerun:
        raise InputError("exists and is not the relaxed structures of this eqt-opt run; give --structures-out "
                         "to choose the name (or remove it)", path)
    return claim({"-o": where.output.path, "--structures-out": path}, inputs)["--structures-out"]


def _show_step(bar, model, k, step, fmax):
    """The optimizer's progress on the bar (redrawn at tqdm's pace, not at every step)."""
    bar.set_postfix_str(f"structure {k} {model}: step {step}, Fmax {fmax:.3g} eV/Å", refresh=False)
    now = time.monotonic()
    if now - getattr(bar, "step_shown", 0.0) >= 0.5:  # bar.update(0) would wait for tqdm's miniters
        bar.step_shown = now
        bar.refresh()


@eqt_command()
@click.argument("model_file", metavar="[MODEL]", required=False)
@click.argument("structures", metavar="STRUCTURES.xyz", required=False)
@click.option("--calculator", default=None, metavar="MODULE:FACTORY",
              help="Any ASE calculator instead of an eqt model: FACTORY() must return it (then give only "
                   "STRUCTURES).")
@click.option("--compare", type=GridType(), default=None, metavar="GRID",
              help="Relax every structure twice, with the plain model and then, from the plain model's relaxed "
                   "structure, with its average over GRID; compare energies and relaxed positions.")
@click.option("--optimizer", type=click.Choice(["BFGS", "LBFGS", "FIRE"], case_sensitive=False), default="BFGS",
              metavar="[BFGS|LBFGS|FIRE]", show_default=True,
              help="ASE optimizer (ase.optimize). BFGS diagonalizes a dense 3N x 3N Hessian at every step (about 40 s "
                   "for 2304 atoms on 2 cores): LBFGS or FIRE for large cells.")
@click.option("--fmax", type=POSITIVE, default=0.01, show_default=True,
              help="Converged when every atomic force is below this (eV/Å).")
@click.option("--steps", type=click.IntRange(min=1), default=500, show_default=True,
              help="Most optimizer steps per structure; one not converged by then is reported (converged = 0).")
@click.option("--structures-out", default=None, metavar="PATH",
              help="Relaxed structures (extxyz with energy and forces; with --compare the plain ones, then the "
                   "averaged ones). Default: the input's name with .relaxed.xyz in the current folder.")
@output_option("Per-structure energies, forces, steps and displacements (NetCDF)",
               "STRUCTURES' name with .opt.nc in the current folder")
@model_options("Relax", "at every force call", float64_help="(default: float32; --compare always uses float64)")
@json_option
@quiet_option
@command
def main(model_file, structures, calculator, average, random_rotation, compare, optimizer, fmax, steps,
         structures_out, output, float64, seed, memory, as_json, quiet):
    """Relax the positions of every structure of STRUCTURES.xyz (extxyz or xyz, periodic or
    open; the cell stays fixed) with MODEL (model.pkl) or --calculator, using ASE's BFGS,
    LBFGS or FIRE: energies before and after (eV, and per molecule relative to the lowest structure,
    meV), largest forces (eV/Å), steps, convergence and RMS displacement (Å). The table goes to
    stdout (stderr with -o -), the data to NetCDF, the relaxed structures to extxyz.
    Every finished relaxation, and every minute the positions of the current one, are
    kept in OUTPUT.ckpt: a run that is stopped continues where it was when given the same
    command again (a relaxation stopped midway resumes from its last kept positions with
    a fresh optimizer, e.g. BFGS's Hessian rebuilt; the checkpoint goes once the outputs
    are written).

    \b
    Examples:
      eqt-opt example_data/model.pkl ice.xyz --average 2i --fmax 0.005
      eqt-opt example_data/model.pkl ice.xyz --compare 2i
      eqt-opt --calculator ase.calculators.emt:EMT cluster.xyz --optimizer FIRE
    """
    if calculator:
        model_file, structures = (None, model_file) if not structures else (model_file, None)
    if not structures or not (calculator or model_file):
        raise InputError("give MODEL and STRUCTURES.xyz (or --calculator and only STRUCTURES.xyz)")
    if [average is not None, random_rotation, compare is not None].count(True) > 1:
        raise InputError("choose one of --average, --random-rotation and --compare")
    inputs = [structures] + ([] if calculator else [model_file])
    where = claim_result(inputs, "opt", output)
    xyz = _claim_structures(structures, inputs, where, output, structures_out)
    if not os.path.exists(structures):
        raise InputError("no such file", structures)
    import jax

    if float64 or compare:
        jax.config.update("jax_enable_x64", True)
    import ase.io
    from eqt_model import data as datamod
    from eqt_model import optimize
    from eqt_model.calculator import Potential, ase_evaluator
    from eqt_model.rotvar import format_table

    potential = None if calculator else Potential(model_file, memory=memory)
    evaluate = ase_evaluator(ase_calculator(calculator)) if calculator else potential.over_rotations
    frames = datamod.read(structures, require_labels=False)[0]
    if potential:
        optimize.check_species(frames, potential.config.species, structures)
    models = optimize.models(evaluate, average, random_rotation, seed, compare)
    settings = dict(structures=file_checksum(structures), model=calculator or file_checksum(model_file),
                    optimizer=optimizer.upper(), fmax=fmax, steps=steps, models=list(models),
                    seed=seed if random_rotation else None, float64=bool(float64 or compare))
    checkpoint = where.output.path + ".ckpt" if where.output.kind == "file" else None
    finished = unfinished = None
    if checkpoint and os.path.exists(checkpoint):
        try:
            finished, unfinished = optimize.from_checkpoint(load_npz(checkpoint), settings, frames)
        except (InputError, KeyError, ValueError, IndexError) as err:
            raise InputError(err.message if isinstance(err, InputError) else "unreadable checkpoint", checkpoint) from None

    def save(done, stopped):
        with deferred_signals():
            save_npz(optimize.checkpoint_arrays(done, settings, stopped), checkpoint)

    try:
        with tqdm(total=len(frames) * len(models), unit="relaxation", disable=quiet, file=sys.stderr,
                  desc="opt") as bar:
            runs = optimize.relax_all(frames, models, optimizer.upper(), fmax, steps, structures, bar.update,
                                      functools.partial(_show_step, bar), warm_start=compare is not None,
                                      finished=finished, save=save if checkpoint else None, unfinished=unfinished)
    except (Interrupted, KeyboardInterrupt) as err:
        if not (checkpoint and os.path.exists(checkpoint)):
            raise
        signum = getattr(err, "signum", signal.SIGINT)
        click.echo(f"Error: interrupted by {signal.Signals(signum).name}; the finished relaxations and the "
                   f"positions of the current one are kept in {checkpoint} (the same command continues the run)",
                   err=True)
        raise click.exceptions.Exit(128 + signum) from None
    ds = optimize.result(frames, runs, model=model_file or calculator, model_id=settings["model"],
                         optimizer=optimizer.upper(), fmax=fmax,
                         max_steps=steps, float64=int(bool(float64 or compare)), seed=seed)
    click.echo(format_table(*optimize.table(ds), "json" if as_json else "text"),
               err="stdout" in (where.output.kind, xyz.kind))
    with atomic_output(xyz, ".xyz") as tmp:
        ase.io.write(tmp, optimize.relaxed_frames(runs), format="extxyz")
        write_result(ds, where)
    if checkpoint and os.path.exists(checkpoint):
        os.remove(checkpoint)
