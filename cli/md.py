"""eqt-md: molecular dynamics with an eqt model (plain, averaged, randomly rotated, multiple time stepping) or
any ASE calculator, streaming an eqt trajectory with a checkpoint for an exact --restart."""
import contextlib
import functools
import os
import signal
import sys
import time

import click
import numpy as np
from tqdm import tqdm

from eqt_analysis.errors import InputError
from eqt_model.rotations import GridType

from . import parallel
from .common import (POSITIVE, FiniteFloat, ase_calculator, atomic_output, check_netcdf_name, claim, command,
                     command_line, default_output, eqt_command, format_option, quiet_option)
from .outputs import Interrupted, deferred_signals, file_checksum, hold_lock, is_out_of_space, load_npz, save_npz

MAX_TEMPERATURE_K = 1e6  # beyond it kT and the thermal velocities leave any meaning (and overflow near 1e300)


def _structure(path, fmt, frame):
    """(numbers, masses, positions, cell or None, pbc, velocities or None) of one frame of any trajectory."""
    from eqt_analysis import io

    ds = io.open_trajectory(path, fmt)
    n = ds.sizes["frame"]
    if not -n <= frame < n:
        raise InputError(f"no frame {frame} (the file has {n})", path)
    ds = ds.isel(frame=frame).load()
    cell = ds["cell"].values if "cell" in ds else None
    velocities = ds["velocities"].values if "velocities" in ds else None
    return (ds["atomic_number"].values, ds["mass"].values, ds["positions"].values, cell, ds["pbc"].values,
            velocities)


def _frames_up_to(path, step, stride):
    """How many leading frames of the trajectory at `path` a restart from `step` keeps: those with increasing
    steps up to `step` (a frame written after the checkpoint, or left half-written, is replaced). InputError
    unless the file holds the checkpoint's step and was written every `stride` steps."""
    import netCDF4

    try:
        with netCDF4.Dataset(path) as nc:
            steps = np.ma.filled(nc["step"][:].astype(np.int64), -1)
    except (OSError, RuntimeError, KeyError, IndexError, ValueError) as err:
        raise InputError(f"cannot be continued: not a readable eqt-md trajectory ({str(err).splitlines()[0]}; "
                         "damaged or truncated?)", path) from None
    keep = 0
    while keep < len(steps) and 0 <= steps[keep] <= step and (keep == 0 or steps[keep] > steps[keep - 1]):
        keep += 1
    if keep == 0 or steps[keep - 1] != step:
        raise InputError(f"holds no frame of the checkpoint's step {step}: not this checkpoint's trajectory", path)
    if keep > 1 and steps[1] - steps[0] != stride:
        raise InputError(f"was written every {steps[1] - steps[0]} steps: restart it with --stride "
                         f"{steps[1] - steps[0]}, or its frames would be unevenly spaced", path)
    return keep


def _progress(bar, ds, started, first_step, dt_fs, n_atoms, start_conserved):
    step = int(ds["step"].values[0])
    ns_day = _ns_per_day(step - first_step, dt_fs, time.perf_counter() - started)
    drift = (float(ds["conserved_energy"].values[0]) - start_conserved) / n_atoms * 1e3
    bar.set_postfix_str(f"{step * dt_fs * 1e-3:.3f} ps, {ns_day:.3g} ns/day, T {float(ds['temperature'].values[0]):.0f} K, "
                        f"drift {drift:+.3f} meV/atom", refresh=False)
    bar.update(step - bar.n - first_step)


@eqt_command()
@click.argument("model_file", metavar="[MODEL]", required=False)
@click.argument("structure", metavar="STRUCTURE", required=False)
@click.option("--calculator", default=None, metavar="MODULE:FACTORY",
              help="Any ASE calculator instead of an eqt model (then give only STRUCTURE): FACTORY() returns it; "
                   "run on the host (not jitted), averaged by rotating the structure.")
@format_option
@click.option("--frame", type=int, default=0, show_default=True, help="Frame of STRUCTURE to start from (-1 = last).")
@click.option("--output", "-o", default=None, metavar="PATH",
              help="Trajectory (eqt NetCDF), written frame by frame; PATH.ckpt holds the checkpoint. Default: "
                   "STRUCTURE's name with .md.nc in the current folder. An existing PATH is never replaced: "
                   "continue it with --restart.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Time steps to run (default: 1000).")
@click.option("--time", "ps", type=POSITIVE, default=None, metavar="PS", help="Simulated time (ps), instead of --steps.")
@click.option("--timestep", "dt", type=POSITIVE, default=0.5, show_default=True, metavar="FS", help="Time step (fs).")
@click.option("--stride", type=click.IntRange(min=1), default=10, show_default=True,
              help="Write a frame every N steps (the steps must be a multiple of N, and a --restart keeps N: "
                   "frames evenly spaced).")
@click.option("--thermostat", type=click.Choice(["none", "svr", "langevin"]), default="none", show_default=True,
              help="none: NVE; svr: stochastic velocity rescaling (Bussi); langevin: BAOAB (OBABO with --mts).")
@click.option("--temperature", type=FiniteFloat(min=0, max=MAX_TEMPERATURE_K, min_open=True), default=300.0,
              show_default=True, metavar="K",
              help="Thermostat temperature, and of the Maxwell–Boltzmann start velocities (at most 1e6 K).")
@click.option("--tau", type=POSITIVE, default=100.0, show_default=True, metavar="FS",
              help="Thermostat time: SVR relaxation time; Langevin friction = 1/tau.")
@click.option("--velocities", type=click.Choice(["auto", "input", "thermal"]), default="auto", show_default=True,
              help="Start velocities: from STRUCTURE (input), Maxwell–Boltzmann at --temperature (thermal, seeded), "
                   "or input when STRUCTURE has them (auto).")
@click.option("--fix-com/--free-com", default=True, show_default=True,
              help="Keep the centre of mass at rest (3N-3 degrees of freedom).")
@click.option("--average", type=GridType(), default=None, metavar="GRID",
              help="Forces of the model averaged over a rotation grid (1, i, 2, 2i, 3, 3i, L<order>[i], lebedev<N>[i]).")
@click.option("--mts", type=click.IntRange(min=1), default=1, show_default=True, metavar="K",
              help="Multiple time stepping with --average: the plain model every step, the correction "
                   "(averaged - plain) every K steps (the study: --timestep 0.5 --mts 10 --average 2i).")
@click.option("--random-rotation", is_flag=True, help="A fresh random rotation of the structure at every step.")
@click.option("--record", type=GridType(), default=None, metavar="GRID",
              help="On every frame, also store the plain and the GRID-averaged energy (energy_plain, energy_averaged).")
@click.option("--record-forces", is_flag=True, help="With --record: store both models' forces too.")
@click.option("--replay", is_flag=True,
              help="Do not move atoms: evaluate --record GRID on every frame of STRUCTURE (a trajectory); "
                   "options of the dynamics (--steps, --stride, --average, --thermostat, ...) are refused.")
@click.option("--skin", type=POSITIVE, default=1.0, show_default=True, metavar="Å",
              help="Neighbour-list skin: the list is rebuilt when an atom has moved half of it.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of velocities, thermostat and rotations.")
@click.option("--float64", is_flag=True, help="Double precision (default: float32).")
@click.option("--memory", type=click.IntRange(min=16), default=1024, show_default=True, metavar="MB",
              help="Work space of an averaged evaluation: structures under 192 atoms evaluate as many rotations "
                   "at a time as fit it (larger ones one at a time).")
@click.option("--restart", is_flag=True, help="Continue the run in --output from its checkpoint (bit for bit).")
@parallel.options
@quiet_option
@command
def main(model_file, structure, calculator, fmt, frame, output, steps, ps, dt, stride, thermostat, temperature, tau,
         velocities, fix_com, average, mts, random_rotation, record, record_forces, replay, skin, seed, float64,
         memory, restart, workers, scheduler, quiet):
    """Molecular dynamics of STRUCTURE (any trajectory format eqt reads; --frame picks the frame) with MODEL
    (model.pkl) or --calculator, NVE or NVT, written to an eqt trajectory every --stride steps. Units: Å, fs
    on the command line, ps/eV/K in the output.

    \b
    Examples:
      eqt-md example_data/model.pkl water.xyz --time 10 --thermostat svr --average 2i --mts 10 -o mts.nc
      eqt-md example_data/model.pkl water.xyz --time 10 --thermostat svr -o plain.nc --restart
      eqt-md example_data/model.pkl run.nc --replay --record 2i -o replay.nc
    """
    model_file, structure, n_steps = _check_request(model_file, structure, calculator, steps, ps, dt, stride, mts,
                                                    replay, record)
    if replay:
        _refuse_dynamics_options(click.get_current_context())
    if (workers or scheduler) and not replay:
        raise InputError("--workers and --scheduler spread the frames of a --replay; an MD run is one sequence of steps")
    output = output or default_output(structure, "replay" if replay else "md")
    check_netcdf_name(output)
    target = claim({"-o": output}, [structure] + ([model_file] if model_file else []))["-o"]
    if target.kind != "file":
        raise InputError("eqt-md writes a NetCDF file; give a file name", output)
    if restart and not (os.path.exists(output) and os.path.exists(output + ".ckpt")):
        raise InputError(f"nothing to restart: {output} and its checkpoint {output}.ckpt must exist", output)
    if not restart and os.path.lexists(output):
        raise InputError("exists; choose another -o, remove it, or continue it with --restart", output)
    if not restart and os.path.lexists(output + ".ckpt"):
        raise InputError("exists (it would become this run's checkpoint); choose another -o, or remove it",
                         output + ".ckpt")
    import jax
    if float64:
        jax.config.update("jax_enable_x64", True)
    from eqt_model import simulation
    from eqt_model.neighbors import check_no_overlap

    settings = simulation.Settings(
        dt=dt, thermostat=thermostat, temperature=temperature, tau=tau, fix_com=fix_com, seed=seed,
        average=average and average.name, mts=mts, random_rotation=random_rotation, skin=skin,
        record=record and record.name, record_forces=record_forces, float64=float64, memory=memory,
        model=calculator or file_checksum(model_file), structure=f"{os.path.realpath(structure)}@{frame}")
    numbers, masses, positions, cell, pbc, v_in = _structure(structure, fmt, frame)
    potentials = _potentials(model_file, calculator, structure, numbers, positions, cell, pbc, settings)
    if replay:
        build = functools.partial(_replay_evaluator, model_file and os.path.abspath(model_file), calculator,
                                  os.path.abspath(structure), fmt, frame, settings)
        return _replay(structure, fmt, potentials, settings, target, quiet, build, workers, scheduler)
    check_no_overlap(positions, cell, pbc, structure)
    if velocities == "input" and v_in is None:
        raise InputError("has no velocities (use --velocities thermal)", structure)
    if velocities == "auto" and v_in is not None and not np.any(v_in):
        v_in = None  # all zero (a relaxed structure): not velocities to start from
    v_start = None if velocities == "thermal" or v_in is None else v_in
    lock = hold_lock(output) if restart else None  # held until the process ends
    saved = load_npz(output + ".ckpt") if restart else None
    if not quiet:  # before the first force evaluation, which compiles the model (tens of seconds)
        ensemble = "NVE" if thermostat == "none" else f"NVT {temperature:g} K ({thermostat} thermostat)"
        click.echo(f"eqt-md: {len(numbers)} atoms, {settings.mode()}, {ensemble}, {dt:g} fs steps -> {output}",
                   err=True)
    run = simulation.Run(settings, potentials, numbers, masses, positions, cell, pbc, v_start, saved)
    _simulate(run, output, n_steps, stride, restart, quiet)
    del lock


REPLAY_IGNORES = ("frame", "steps", "ps", "dt", "stride", "thermostat", "temperature", "tau", "velocities", "fix_com",
                  "average", "mts", "random_rotation", "skin", "seed", "restart")


def _refuse_dynamics_options(ctx):
    """InputError for options a --replay would ignore (it moves no atom and evaluates every frame)."""
    from click.core import ParameterSource

    given = ["/".join(p.opts + p.secondary_opts) for p in ctx.command.params
             if p.name in REPLAY_IGNORES and ctx.get_parameter_source(p.name) is not ParameterSource.DEFAULT]
    if given:
        raise InputError(f"{', '.join(given)} {'has' if len(given) == 1 else 'have'} no effect with --replay, which "
                         "evaluates --record GRID on every frame of STRUCTURE as stored")


def _check_request(model_file, structure, calculator, steps, ps, dt, stride, mts, replay, record):
    """(model file or None, structure, steps to run) from the arguments, or InputError."""
    if calculator:
        if structure is not None:
            raise InputError("give only STRUCTURE with --calculator, not MODEL")
        model_file, structure = None, model_file
    if structure is None:
        raise InputError("give MODEL and STRUCTURE (or --calculator MODULE:FACTORY and STRUCTURE)")
    if steps is not None and ps is not None:
        raise InputError("give --steps or --time, not both")
    n_steps = steps or (round(ps * 1e3 / dt) if ps else 1000)
    if n_steps < 1:
        raise InputError(f"--time {ps:g} ps is shorter than one --timestep ({dt:g} fs)")
    if n_steps % stride and not replay:
        raise InputError(f"{n_steps} steps are not a multiple of --stride ({stride}): the last frame would be "
                         f"unevenly spaced; give --steps {(n_steps // stride + 1) * stride} or another --stride")
    if n_steps % mts or stride % mts:
        raise InputError(f"--steps ({n_steps}) and --stride ({stride}) must be multiples of --mts ({mts})")
    if replay and not record:
        raise InputError("--replay needs --record GRID")
    return model_file, structure, n_steps


def _potentials(model_file, calculator, structure, numbers, positions, cell, pbc, settings):
    """The run's potentials from --calculator or the model file."""
    import jax

    from eqt_model import modelfile, simulation

    if calculator:
        return simulation.calculator_potentials(ase_calculator(calculator), numbers, cell, pbc, settings)
    config, params, _ = modelfile.load(model_file)
    params = jax.tree_util.tree_map(lambda a: jax.numpy.asarray(a, settings.dtype()), params)
    return simulation.model_potentials(params, config, numbers, positions, cell, pbc, settings, source=structure)


def _simulate(run, output, n_steps, stride, restart, quiet):
    """Run to step n_steps, appending a frame every `stride` steps to `output` and saving the checkpoint."""
    from eqt_analysis.io.netcdf import NetCDFWriter
    from eqt_model import md

    first, s = int(run.state.step), run.settings
    keep = _frames_up_to(output, first, stride) if restart else None
    if first >= n_steps:
        click.echo(f"{output} already holds step {first} >= {n_steps}; nothing to do", err=True)
        return
    if not quiet:
        click.echo(f"eqt-md: steps {first}..{n_steps}", err=True)
    with NetCDFWriter(output, float64=s.float64, title="eqt-md", history=command_line(), append_at=keep) as writer, \
            tqdm(total=n_steps - first, unit="step", disable=quiet, file=sys.stderr, desc="md") as bar, \
            contextlib.ExitStack() as held:
        if not restart:
            with deferred_signals():  # a frame and its checkpoint are written together
                writer.write(run.frame())
                save_npz(run.checkpoint(), output + ".ckpt")
            held.enter_context(hold_lock(output))  # while the run writes (a restart holds it from the start)
        started = time.perf_counter()
        marks = []  # (time, step) at every frame from the first one on: compilation done by then
        saved = first  # the checkpoint's step
        try:
            for ds in run.frames(n_steps, stride):
                with deferred_signals():
                    writer.write(ds)
                    save_npz(run.checkpoint(), output + ".ckpt")
                saved = int(run.state.step)
                _progress(bar, ds, started, first, s.dt, len(run.numbers), run.start_conserved)
                marks.append((time.perf_counter(), saved))
        except (OSError, RuntimeError) as err:
            if not is_out_of_space(err, os.path.dirname(os.path.abspath(output))):
                raise
            click.echo(f"Error: {output}: no space left on the device (or quota exceeded); it and its checkpoint "
                       f"hold the run up to step {saved} (free space, then continue it with --restart)", err=True)
            raise click.exceptions.Exit(1) from None
        except md.Unstable as err:
            raise click.ClickException(f"the dynamics blew up after step {int(err.state.step)}: {err}; {output} "
                                       f"and its checkpoint hold the run up to step {int(run.state.step)}") from None
        except (Interrupted, KeyboardInterrupt) as err:
            signum = getattr(err, "signum", signal.SIGINT)
            click.echo(f"Error: interrupted by {signal.Signals(signum).name}; {output} and its checkpoint hold the run "
                       f"up to step {int(run.state.step)} (continue it with --restart)", err=True)
            raise click.exceptions.Exit(128 + signum) from None
    click.echo(_speed(first, int(run.state.step), started, marks, s.dt), err=True)


def _ns_per_day(steps, dt_fs, seconds):
    """Simulated ns per day of wall time: `steps` of dt_fs fs in `seconds`."""
    return steps * dt_fs * 1e-6 / max(seconds, 1e-9) * 86400


def _speed(first, last, started, marks, dt_fs):
    """'eqt-md: N steps in W s; R ns/day after the first frame (median over M frame intervals;
    compilation excluded)': the median of the intervals' rates, so that an interval in which a
    neighbour list grew and the step recompiled does not set the steady-state speed."""
    line = f"eqt-md: {last - first} steps in {time.perf_counter() - started:.1f} s"
    rates = [_ns_per_day(b[1] - a[1], dt_fs, b[0] - a[0]) for a, b in zip(marks, marks[1:]) if b[1] > a[1]]
    if rates:
        line += (f"; {float(np.median(rates)):.4g} ns/day after the first frame (median over {len(rates)} frame "
                 f"interval{'s' if len(rates) > 1 else ''}; compilation excluded)")
    return line


def _replay(structure, fmt, potentials, settings, target, quiet, build, workers=None, scheduler=None):
    """Plain and averaged energies (and forces) on every frame of a trajectory, atoms not moved; the frames
    with these variables added go to the output (atomically: it appears when complete). With --workers or
    --scheduler, pieces of the trajectory are evaluated on the workers (each builds the models once with
    `build`); the frames are written here, in order."""
    from eqt_analysis import io
    from eqt_analysis.io.netcdf import NetCDFWriter
    from eqt_model import simulation

    _, _, record, cutoff = potentials
    n_frames = io.count_frames(structure, fmt)
    with parallel.client(workers, scheduler) as dask_client, atomic_output(target, ".nc") as tmp, \
            NetCDFWriter(tmp, float64=settings.float64, title="eqt-md --replay", history=command_line()) as writer, \
            tqdm(total=n_frames, unit="frame", disable=quiet, file=sys.stderr, desc="replay") as bar:
        if dask_client is None:
            evaluate = simulation.replayer(record, cutoff, settings.dtype())
            values_of = functools.partial(_replay_frames, evaluate)
        else:
            values_of = _pieces_in_order(dask_client, build, os.path.abspath(structure), fmt, n_frames)
        for chunk in io.iter_trajectory(structure, fmt):
            values = values_of(chunk)
            for k, name in enumerate(("plain", "averaged")):
                chunk[f"energy_{name}"] = ("frame", np.array([v[k][0] for v in values]))
                chunk[f"energy_{name}"].attrs["units"] = "electronvolt"
                if settings.record_forces:
                    chunk[f"forces_{name}"] = (("frame", "atom", "spatial"), np.array([v[k][1] for v in values]))
                    chunk[f"forces_{name}"].attrs["units"] = "electronvolt/angstrom"
            simulation.label(chunk, settings.record)
            writer.write(chunk)
            bar.update(chunk.sizes["frame"])


def _replay_frames(evaluate, chunk):
    """[((E, F) plain, (E, F) averaged)] (eV, eV/Å, NumPy) of every frame of a trajectory chunk."""
    pbc = chunk["pbc"].values
    out = []
    for i in range(chunk.sizes["frame"]):
        both = evaluate(chunk["positions"].values[i], chunk["cell"].values[i] if "cell" in chunk else None, pbc)
        out.append(tuple((float(e), np.asarray(f, float)) for e, f in both))
    return out


@functools.lru_cache(maxsize=1)
def _replay_evaluator(model_file, calculator, structure, fmt, frame, settings):
    """The replay's evaluate, built once per worker process (as the command builds it)."""
    import jax

    jax.config.update("jax_enable_x64", bool(settings.float64))
    from eqt_model import simulation

    numbers, _, positions, cell, pbc, _ = _structure(structure, fmt, frame)
    _, _, record, cutoff = _potentials(model_file, calculator, structure, numbers, positions, cell, pbc, settings)
    return simulation.replayer(record, cutoff, settings.dtype())


def _replay_piece(job):
    """One task: the replay values of frames [lo, hi) of the trajectory."""
    from eqt_analysis import io

    build, structure, fmt, lo, hi = job
    evaluate = build()
    return [v for chunk in io.iter_trajectory(structure, fmt, chunk_frames=hi - lo, start=lo, stop=hi)
            for v in _replay_frames(evaluate, chunk)]


def _pieces_in_order(dask_client, build, structure, fmt, n_frames):
    """values_of(chunk) for the driver's chunks, served in order from tasks over pieces of the frames."""
    n_workers = max(1, len(dask_client.scheduler_info().get("workers", {})))
    size = max(1, -(-n_frames // (parallel.TASKS_PER_WORKER * n_workers)))
    futures = iter(dask_client.map(_replay_piece, [(build, structure, fmt, lo, min(lo + size, n_frames))
                                                   for lo in range(0, n_frames, size)], pure=False))
    buffer = []

    def values_of(chunk):
        while len(buffer) < chunk.sizes["frame"]:
            buffer.extend(next(futures).result())
        taken = buffer[:chunk.sizes["frame"]]
        del buffer[:chunk.sizes["frame"]]
        return taken
    return values_of


if __name__ == "__main__":
    main()
