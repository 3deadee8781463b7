"""eqt-study: the study's pipeline, built from the small eqt commands, with a report folder as its answer.

Every step is one eqt command run as a subprocess (its command line is in the report), writing its outputs
atomically into the report folder; a step whose outputs exist is skipped, so a study resumes where it stopped
(an MD step continues its trajectory with --restart). The report (index.html, self-contained, and README.md)
is made from the results' NetCDF files by eqt_cli.report.
"""
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time

import click
import numpy as np
from tqdm import tqdm

from eqt_analysis.errors import InputError

from .common import command, eqt_command, quiet_option
from .outputs import file_checksum, is_locked
from . import report as report_mod

BULK_VARIANTS = {"plain": [], "random": ["--random-rotation"], "mts2i": ["--average", "2i", "--mts", "10"]}
MOLECULE_VARIANTS = {"plain": [], "2i": ["--average", "2i"]}
BULK_OBSERVABLES = ("rdf", "orient", "msd", "rotcorr", "tcf")
MOLECULE_OBSERVABLES = ("angmom", "orient", "tcf", "tcf_delta", "rotvar")


@dataclasses.dataclass
class Step:
    """One command of the study: ``argv`` after the command name, done when every output exists (an MD step:
    when its checkpoint has reached ``md_steps``); ``estimate`` in seconds."""
    name: str
    program: str
    argv: list
    outputs: list
    estimate: float
    md_steps: int = 0
    stdout: bool = False  # keep the command's stdout (a table) as logs/NAME.txt
    alone: bool = False  # runs with no other step (its speed is reported)

    def done(self, folder):
        paths = [os.path.join(folder, p) for p in self.outputs]
        if self.md_steps:
            return os.path.exists(paths[0] + ".ckpt") and _checkpoint_step(paths[0] + ".ckpt") >= self.md_steps
        return all(os.path.exists(p) for p in paths)

    def command_line(self):
        return " ".join([self.program] + [_quote(a) for a in self.argv])


def _quote(arg):
    return arg if arg and all(c.isalnum() or c in "-_./=:,@+" for c in arg) else "'" + arg.replace("'", "'\\''") + "'"


def _checkpoint_value(path, key, convert):
    """convert(value) of `key` in an eqt-md checkpoint, or None when it cannot be read (eqt-md says why)."""
    try:
        with np.load(path) as saved:
            return convert(saved[key])
    except Exception:  # noqa: BLE001 - an unreadable checkpoint counts as not done and is not judged
        return None


def _checkpoint_step(path):
    step = _checkpoint_value(path, "state_step", int)
    return -1 if step is None else step


def _checkpoint_model(path):
    """The model checksum recorded in an eqt-md checkpoint, or None."""
    return _checkpoint_value(path, "settings", lambda s: json.loads(str(s)).get("model"))


def _result_model(path):
    """The model_id attribute of an eqt-opt result, or None (no such file or attribute)."""
    import netCDF4

    try:
        with netCDF4.Dataset(path) as nc:
            return getattr(nc, "model_id", None)
    except Exception:  # noqa: BLE001 - an unreadable result is the plot step's to refuse
        return None


def _check_runs_model(runs, model, shown, ice=False):
    """InputError when an MD run (its checkpoint's checksum) or, with `ice`, the ice relaxations (their
    model_id) in the runs folder were made with another model: finished ones are reused as they are."""
    mine = file_checksum(model)
    made = {f"{kind}_{name}.nc": _checkpoint_model(os.path.join(runs, f"{kind}_{name}.nc.ckpt"))
            for kind, variants in (("molecule", MOLECULE_VARIANTS), ("bulk", BULK_VARIANTS)) for name in variants}
    if ice:
        made["ice.opt.nc"] = _result_model(os.path.join(runs, "ice.opt.nc"))
    for name, theirs in made.items():
        if theirs not in (None, mine):
            what = "the ice relaxations" if name == "ice.opt.nc" else "an MD run"
            raise InputError(f"holds {name}, {what} made with another model than {model}: "
                             "give another folder, or remove it", shown)


@dataclasses.dataclass(frozen=True)
class Plan:
    """Lengths of the study (ps, frames)."""
    molecule_ps: float
    bulk_ps: float
    molecule_stride: int
    bulk_stride: int
    grids: str
    cost_steps: int
    rotvar_frames: int
    test_structures: int  # of --test-set, evenly spread (eqt-rotvar --max-structures)
    n_random: int
    equilibration_ps: float  # left out of the bulk analyses (the model relaxes the start structure)
    msd_fit: tuple = ()  # eqt-msd's fit window options (default: chosen from the data)


FULL = Plan(molecule_ps=10, bulk_ps=10, molecule_stride=10, bulk_stride=100, grids="1,i,2,2i,3,3i",
            cost_steps=200, rotvar_frames=4, test_structures=8, n_random=16, equilibration_ps=1.0)
QUICK = Plan(molecule_ps=0.25, bulk_ps=0.1, molecule_stride=5, bulk_stride=10, grids="1,i,2i", cost_steps=40,
             rotvar_frames=1, test_structures=2, n_random=4, equilibration_ps=0.02,
             msd_fit=("--fit-start", "0.01", "--fit-stop", "0.04"))


SMALL_ATOM_S = 2.1e-4  # s per atom of one force evaluation of the small preset (its quick-study MD steps)
ANALYSIS_S = 3  # s of one analysis step (1-2.5 s in the quick study)
SMALL_STEP_S = 2  # s of a comparison, figure or frame conversion (1-2.4 s)


def seconds_per_atom(config):
    """Estimated seconds per atom of one float32 force evaluation of a model of this ModelConfig on a
    2-core CPU like this project's: 2.1e-4 s for the small preset, scaled by the matrix-product work
    per token (projections, feed-forward, attention over ~30 neighbours, every layer) to the power
    0.65, fitted to the MD steps of the small and medium example models (2.1e-4 and 5.6-7.1e-4 s per
    atom in the quick study) and the paper preset's evaluation (3.4e-3 s per atom)."""
    def work(d, ff, layers):
        return layers * (4 * d * d + 2 * d * ff + 60 * d)

    mine = work(config.d_model, config.d_feedforward, config.n_message_layers * config.n_transformer_layers)
    return SMALL_ATOM_S * (mine / work(32, 64, 2)) ** 0.65


def md_steps(plan, bulk):
    return round((plan.bulk_ps if bulk else plan.molecule_ps) * 1e3 / 0.5)


def steps(model, bulk, molecule, test_set, ice, runs, plan, folder, test_split=False, atom_s=SMALL_ATOM_S):
    """The study's steps in order, paths relative to the report folder (``runs`` may be elsewhere);
    atom_s: seconds per atom of one force evaluation (seconds_per_atom), for the time estimates."""
    out = []
    scale = atom_s / SMALL_ATOM_S  # the model's cost against the small preset's
    n_bulk = _atoms(bulk) if bulk else 0
    mol_steps, bulk_steps = md_steps(plan, False), md_steps(plan, True)
    runs_of = {}
    if molecule:
        for name, extra in MOLECULE_VARIANTS.items():
            path = os.path.join(runs, f"molecule_{name}.nc")
            runs_of[("molecule", name)] = path
            out.append(Step(f"md molecule {name}", "eqt-md", [
                model, molecule, "--time", f"{plan.molecule_ps:g}", "--timestep", "0.5", "--stride",
                str(plan.molecule_stride), "--velocities", "thermal", "--temperature", "300", "--seed", "1",
                "--float64", "--record", "2i", *extra, "-o", path, "-q"], [path],
                mol_steps * 0.003 * (scale ** 0.5 if not extra else 2.5 * scale) + 16 * scale ** 0.5,
                md_steps=mol_steps))
    if bulk:
        for name, extra in BULK_VARIANTS.items():
            path = os.path.join(runs, f"bulk_{name}.nc")
            runs_of[("bulk", name)] = path
            per_step = n_bulk * atom_s * (1 + 36 * 0.95 / 10 if name == "mts2i" else 1)  # MTS: 4.0-4.75x measured
            start_s = 32 if name == "mts2i" else 17  # start-up and compilation
            out.append(Step(f"md bulk {name}", "eqt-md", [
                model, bulk, "--time", f"{plan.bulk_ps:g}", "--timestep", "0.5", "--stride", str(plan.bulk_stride),
                "--thermostat", "svr", "--tau", "100", *extra, "-o", path, "-q"], [path],
                bulk_steps * per_step + start_s, md_steps=bulk_steps, alone=True))
            if not out[-1].done(folder) or report_mod.rate_in_log(folder, f"md_bulk_{name}"):
                continue  # its speed is (or will be) in its own log; a run made elsewhere gets a short run
            cost = f"cost/bulk_{name}.nc"
            out.append(Step(f"cost bulk {name}", "eqt-md", [
                model, bulk, "--steps", str(plan.cost_steps), "--stride", str(max(10, plan.cost_steps // 10)),
                "--thermostat", "svr", "--tau", "100", *extra, "-o", cost], [cost],
                plan.cost_steps * per_step + start_s, md_steps=plan.cost_steps, alone=True))
    for (kind, name), traj in runs_of.items():
        stem = f"results/{kind}_{name}"
        if kind == "molecule":
            out += [Step(f"angmom molecule {name}", "eqt-angmom", [traj, "-o", f"{stem}.angmom.nc"],
                         [f"{stem}.angmom.nc"], ANALYSIS_S),
                    Step(f"orient molecule {name}", "eqt-orient", [traj, "-o", f"{stem}.orient.nc", "-q"],
                         [f"{stem}.orient.nc"], ANALYSIS_S),
                    Step(f"tcf molecule {name}", "eqt-tcf", [traj, "-v", "potential_energy", "-o", f"{stem}.tcf.nc"],
                         [f"{stem}.tcf.nc"], ANALYSIS_S),
                    Step(f"tcf_delta molecule {name}", "eqt-tcf", [traj, "-v", "energy_averaged", "--minus",
                                                                   "energy_plain", "-o", f"{stem}.tcf_delta.nc"],
                         [f"{stem}.tcf_delta.nc"], ANALYSIS_S),
                    Step(f"rotvar molecule {name}", "eqt-rotvar", ["--from-properties", traj, "-o",
                                                                   f"{stem}.rotvar.nc", "-q"],
                         [f"{stem}.rotvar.nc"], ANALYSIS_S, stdout=True)]
        else:
            start = ["--start", str(_equilibration_frames(plan))]
            out += [Step(f"rdf bulk {name}", "eqt-rdf", [traj, *start, "--pairs", "O-O", "--bandwidth", "0.05",
                                                         "--dipole", "--rmax", "5.9", "--block-frames",
                                                         str(_block(plan)), "-o", f"{stem}.rdf.nc", "-q"],
                         [f"{stem}.rdf.nc"], ANALYSIS_S),
                    Step(f"orient bulk {name}", "eqt-orient", [traj, *start, "--block-frames", str(_block(plan)),
                                                               "-o", f"{stem}.orient.nc", "-q"],
                         [f"{stem}.orient.nc"], ANALYSIS_S),
                    Step(f"msd bulk {name}", "eqt-msd", [traj, *start, "--species", "O", *plan.msd_fit, "-o",
                                                         f"{stem}.msd.nc", "-q"], [f"{stem}.msd.nc"], ANALYSIS_S),
                    Step(f"rotcorr bulk {name}", "eqt-rotcorr", [traj, *start, "-o", f"{stem}.rotcorr.nc", "-q"],
                         [f"{stem}.rotcorr.nc"], ANALYSIS_S),
                    Step(f"tcf bulk {name}", "eqt-tcf", [traj, *start, "-v", "potential_energy", "-o",
                                                         f"{stem}.tcf.nc"], [f"{stem}.tcf.nc"], ANALYSIS_S),
                    Step(f"drift bulk {name}", "eqt-angmom", [traj, *start, "--drift-only", "-o",
                                                              f"{stem}.angmom.nc"], [f"{stem}.angmom.nc"], ANALYSIS_S)]
    rotvar_sets = []
    if test_set:
        rotvar_sets.append(("test set", test_set, None))
    for kind in ("bulk", "molecule"):
        if (kind, "plain") in runs_of:
            rotvar_sets.append((f"{kind} frames", runs_of[(kind, "plain")], kind))
    for label, source, kind in rotvar_sets:
        stem = "results/rotvar_" + label.replace(" ", "_")
        structures = source
        if kind:  # a few frames of the plain run, as extxyz
            structures = f"{stem}.xyz"
            n_frames = (md_steps(plan, kind == "bulk") // (plan.bulk_stride if kind == "bulk" else plan.molecule_stride)
                        + 1)
            out.append(Step(f"frames {label}", "eqt-convert", [
                source, structures, "--start", str(n_frames // 2), "--stride",
                str(max(1, n_frames // 2 // plan.rotvar_frames))], [structures], SMALL_STEP_S))
        n_atoms = n_bulk if kind == "bulk" else 3 if kind else 200
        n_rot = sum(_grid_size(g) for g in plan.grids.split(",")) + plan.n_random
        if kind:
            flags = ["--no-labels"]  # MD frames carry the model's own energies, not reference labels
        else:
            flags = ["--max-structures", str(plan.test_structures)]
            flags += ["--test-split"] if test_split else []  # the structures the model held out of its training file
        out.append(Step(f"rotvar {label}", "eqt-rotvar", [model, structures, "--grids", plan.grids, "--n-random",
                                                          str(plan.n_random), *flags,
                                                          "-o", f"{stem}.nc", "-q"], [f"{stem}.nc"],
                        # compiling one program per grid and the random rotations (~9 s each, ~4 s for a
                        # molecule), then the evaluations
                        (4 if kind == "molecule" else 9) * (len(plan.grids.split(",")) + 1) + 3
                        + (plan.rotvar_frames if kind else plan.test_structures) * n_rot * n_atoms * atom_s,
                        stdout=True))
    if ice:  # hours, like an MD run: its result (and checkpoint, while it runs) lives with the runs
        result = os.path.join(runs, "ice.opt.nc")
        out.append(Step("ice relaxations", "eqt-opt", [model, ice, "--compare", "2i", "-o", result,
                                                      "--structures-out", "results/ice.relaxed.xyz"],
                        [result], 5400, stdout=True))
        out.append(Step("plot ice", "eqt-plot", [result, "-o", "figures/ice.png"], ["figures/ice.png"], SMALL_STEP_S))
    for kind, variants, observables in (("bulk", BULK_VARIANTS, BULK_OBSERVABLES + ("angmom",)),
                                        ("molecule", MOLECULE_VARIANTS, MOLECULE_OBSERVABLES)):
        if (kind, "plain") not in runs_of:
            continue
        for obs in observables:
            files = [f"results/{kind}_{v}.{obs}.nc" for v in variants]
            for v in list(variants)[1:]:
                target = f"compare/{kind}_{obs}_{v}_vs_plain.nc"
                out.append(Step(f"compare {kind} {obs} {v}", "eqt-compare", [
                    f"results/{kind}_{v}.{obs}.nc", f"results/{kind}_plain.{obs}.nc", "-o", target], [target],
                    SMALL_STEP_S))
            if obs == "rotvar":  # two grids (plain, 2i): the table says it; no curve to draw
                continue
            figure = f"figures/{kind}_{obs}.png"
            labels = [a for v in variants for a in ("--label", v)]
            out.append(Step(f"plot {kind} {obs}", "eqt-plot", [*files, *labels, "-o", figure], [figure], SMALL_STEP_S))
    rotvar_files = ["results/rotvar_" + label.replace(" ", "_") + ".nc" for label, _, _ in rotvar_sets]
    if rotvar_files:
        labels = [a for label, _, _ in rotvar_sets for a in ("--label", label)]
        out.append(Step("plot rotvar", "eqt-plot", [*rotvar_files, *labels, "-o", "figures/rotvar.png"],
                        ["figures/rotvar.png"], SMALL_STEP_S))
    return out


def _equilibration_frames(plan):
    """Frames of the bulk runs left out of the analyses (plan.equilibration_ps)."""
    return round(plan.equilibration_ps / (0.5e-3 * plan.bulk_stride))


def _block(plan):
    """Frames per block of the bulk analyses: 1 ps (5 blocks of the quick run)."""
    frames = md_steps(plan, True) // plan.bulk_stride + 1 - _equilibration_frames(plan)
    return max(2, min(round(1.0 / (0.5e-3 * plan.bulk_stride)), frames // 5))


def _grid_size(name):
    from eqt_model.rotations import grid
    return len(grid(name).rotations)


def check_inputs(model, bulk, molecule, test_set, ice, test_split=False):
    """InputError (exit 2) before any step for what would make steps fail: an unreadable model, structures it
    cannot read or whose species the model does not know, a bulk structure that is not periodic, a
    periodic molecule, a --test-set that is not the model's training file with --test-split. Returns the
    model's ModelConfig."""
    from eqt_analysis import io
    from eqt_model import data, modelfile
    from eqt_model.calculator import held_out

    config, _, training = modelfile.load(model)
    known = set(config.species)

    def species_known(numbers, path):
        unknown = sorted(set(int(z) for z in np.unique(numbers)) - known)
        if unknown:
            raise InputError(f"species {unknown} unknown to the model (it knows {sorted(known)})", path)

    for path, periodic in ((bulk, True), (molecule, False)):
        if path is None:
            continue
        ds = io.open_trajectory(path)
        ds.isel(frame=0).load()  # the start frame passes eqt's reading checks (finite, sane numbers)
        species_known(ds["atomic_number"].values, path)
        pbc = ds["pbc"].values if "cell" in ds else np.zeros(3, bool)
        if periodic and not np.all(pbc):
            raise InputError("--bulk needs a periodic cell in all three directions", path)
        if not periodic and np.any(pbc):
            raise InputError("--molecule needs a structure in vacuum (no periodic directions): its runs "
                             "test the conservation of angular momentum, which images would break", path)
    for path in (test_set, ice):
        if path is not None:
            frames, _, _ = data.read(path, require_labels=False)
            empty = [k for k, f in enumerate(frames) if len(f) == 0]
            if empty:
                raise InputError(f"structure {empty[0]} has no atoms", path)
            species_known(np.concatenate([f.numbers for f in frames]), path)
            if path == test_set and test_split:
                held_out(training, len(frames), path, model)
    return config


def _atoms(path):
    from eqt_analysis import io
    try:
        return int(io.open_trajectory(path).sizes["atom"])
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - any unreadable structure is bad input
        raise InputError(f"cannot read ({type(err).__name__}: {err})", path) from None


def _program(name):
    """The console script beside this Python (the same install), else the module run by this Python."""
    script = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(script):
        return [script]
    module = name.removeprefix("eqt-")
    return [sys.executable, "-c", f"import sys; from eqt_cli.{module} import main; sys.exit(main())"]


def start_step(step, folder):
    """Start one step in the report folder, its stderr (and stdout table) to logs/: (process, log path)."""
    os.makedirs(os.path.join(folder, "logs"), exist_ok=True)
    for path in step.outputs:
        os.makedirs(os.path.dirname(os.path.join(folder, path)) or folder, exist_ok=True)
    argv = list(step.argv)
    if step.program == "eqt-md" and os.path.exists(os.path.join(folder, step.outputs[0])):
        argv.append("--restart")
    log = os.path.join(folder, "logs", step.name.replace(" ", "_"))
    with open(log + ".log", "w") as err, open(log + ".txt" if step.stdout else os.devnull, "w") as out:
        process = subprocess.Popen(_program(step.program) + argv, cwd=folder, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL)
    return process, log + ".log"


def run_steps(pending, todo, folder, jobs, on_start, on_end):
    """Run the pending steps, up to `jobs` at once in the order given, each when the steps it reads from are
    done; a step marked `alone` (bulk MD: its speed is reported) runs with no other. on_start(step);
    on_end(step, exit code, log, seconds) -> False to start nothing more. Returns (failed, waiting): steps that
    failed or whose inputs failed, and steps left for MD runs that another process is writing (and the steps
    that need them)."""
    queue, running, failed, waiting, stop = list(pending), {}, [], [], False
    try:
        while (queue and not stop) or running:
            for step in list(queue):
                if stop or len(running) >= jobs or any(s.alone for s, _, _ in running.values()):
                    break
                deps = _inputs(step, todo)
                if any(d in failed for d in deps):
                    failed.append(step)
                elif any(d in waiting for d in deps) or (
                        step.program == "eqt-md" and is_locked(os.path.join(folder, step.outputs[0]))):
                    waiting.append(step)  # its run is being written by another eqt-md: later
                elif any(d in queue or d in [s for s, _, _ in running.values()] for d in deps) or (
                        step.alone and running):
                    continue  # not ready yet
                else:
                    on_start(step)
                    process, log = start_step(step, folder)
                    running[process] = (step, log, time.perf_counter())
                queue.remove(step)
            for process in list(running):
                if process.poll() is not None:
                    step, log, started = running.pop(process)
                    if process.returncode:
                        failed.append(step)
                    stop |= on_end(step, process.returncode, log, time.perf_counter() - started) is False
            time.sleep(0.05)
    finally:
        for process in running:  # interrupted: the steps stop cleanly (their outputs are atomic)
            process.terminate()
        for process in running:
            process.wait()
    return failed, waiting


def _absolute(path):
    return None if path is None else os.path.abspath(path)


def _molecule(bulk, path):
    """Write the first water molecule of the bulk structure, in vacuum, to `path` (unless it exists)."""
    import ase.io
    from ase import Atoms

    from eqt_analysis import io
    if not os.path.exists(path):
        ds = io.open_trajectory(bulk).isel(frame=0).load()
        x = ds["positions"].values[:3].astype(float)
        numbers = ds["atomic_number"].values[:3]
        if sorted(numbers.tolist()) != [1, 1, 8]:
            raise InputError("its first three atoms are not a water molecule; give --molecule", bulk)
        ase.io.write(path, Atoms(numbers=numbers, positions=x - x.mean(0)))


def _check_settings(folder, settings, output):
    """InputError when the report folder holds a study made from other inputs, runs or length (its results
    would be taken as done)."""
    try:
        with open(os.path.join(folder, "logs", "study.json")) as handle:
            before = json.load(handle)
    except (OSError, ValueError):
        return
    changed = [k for k in settings if before.get(k) != settings[k]]
    if changed:
        raise InputError(f"holds a study made with other {', '.join(changed)} (its results would be reused as "
                         "they are): give another -o, or remove the folder", output)


@eqt_command()
@click.argument("model", metavar="MODEL")
@click.option("--bulk", default=None, metavar="STRUCTURE",
              help="Periodic water box to start the bulk runs from (NVT 300 K: plain, random rotation every step, "
                   "multiple time stepping with the 2i average every 10th step).")
@click.option("--molecule", default=None, metavar="STRUCTURE",
              help="Gas-phase molecule for the NVE runs (plain and 2i-averaged). Default: the first molecule of "
                   "--bulk, in vacuum.")
@click.option("--test-set", default=None, metavar="DATA.xyz",
              help="Labelled structures: rotational error against test error on them.")
@click.option("--test-split", is_flag=True,
              help="With --test-set naming the model's training file: only the structures it held out.")
@click.option("--ice", default=None, metavar="CELLS.xyz",
              help="Ice cells to relax with the plain and 2i-averaged model (eqt-opt --compare 2i; slow).")
@click.option("--runs", default=None, metavar="DIR",
              help="Folder of the MD trajectories (reused when present, continued when unfinished). "
                   "Default: REPORT/md (REPORT/md-quick with --quick).")
@click.option("--output", "-o", default=None, metavar="REPORT",
              help="Report folder: results/, compare/, figures/, logs/, index.html, README.md. Default: report "
                   "(report-quick with --quick). A folder holding a study of other inputs is refused.")
@click.option("--quick", is_flag=True,
              help="A few minutes: 0.25 ps molecule and 0.1 ps bulk runs, grids 1,i,2i (a smoke test of the "
                   "pipeline, not statistics).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=min(4, os.cpu_count() or 1), show_default=True,
              help="Steps run at once; a bulk MD step always runs alone, so that its speed (the cost of a fix) is "
                   "measured on a quiet machine.")
@click.option("--plan", "plan_only", is_flag=True, help="Only print the steps, which are done and their expected time.")
@quiet_option
@command
def main(model, bulk, molecule, test_set, test_split, ice, runs, output, quick, jobs, plan_only, quiet):
    """Run the study of a model's broken rotational symmetry from MODEL and starting structures: MD with
    the plain model and with each fix (averaging, random rotation, multiple time stepping), replays of
    recorded energies, analyses, comparisons (eqt-compare) and figures (eqt-plot), and write REPORT/
    with index.html and README.md: the verdict per observable and per fix, the cost of each fix
    (ns/day) and the rotational-error tables. Steps whose outputs exist are skipped: run the same
    command again to resume.

    \b
    Examples:
      eqt-study example_data/model-small.pkl --bulk example_data/water64_tip3p.nc --runs example_data/md
      eqt-study model.pkl --bulk box.xyz --test-set test.xyz --quick -o quick-report
    """
    if not (bulk or molecule):
        raise InputError("give --bulk STRUCTURE and/or --molecule STRUCTURE")
    if test_split and not test_set:
        raise InputError("--test-split needs --test-set (the model's training file)")
    output = output or ("report-quick" if quick else "report")
    if os.path.exists(output) and not os.path.isdir(output):
        raise InputError("exists and is not a folder", output)
    if runs is not None and os.path.exists(runs) and not os.path.isdir(runs):
        raise InputError("--runs must be a folder (of MD trajectories)", runs)
    config = check_inputs(model, bulk, molecule, test_set, ice, test_split)
    plan = QUICK if quick else FULL
    folder = os.path.abspath(output)
    shown_runs = runs or os.path.join(output, "md-quick" if quick else "md")
    runs = _absolute(runs) or os.path.join(folder, "md-quick" if quick else "md")
    settings = {"model": _absolute(model), "bulk": _absolute(bulk), "molecule": _absolute(molecule), "runs": runs,
                "quick": quick}
    _check_settings(folder, settings, output)
    _check_runs_model(runs, model, shown_runs, ice=bool(ice))
    if bulk and not molecule:
        molecule = os.path.join(folder, "molecule.xyz")  # written below (not by --plan)
    if not plan_only:
        created = not os.path.exists(folder)
        os.makedirs(os.path.join(folder, "logs"), exist_ok=True)
        try:
            if bulk and not settings["molecule"]:
                _molecule(bulk, molecule)
        except BaseException:
            if created:  # a refused input leaves nothing behind
                shutil.rmtree(folder, ignore_errors=True)
            raise
        _save_json(os.path.join(folder, "logs", "study.json"), settings)
    todo = steps(_absolute(model), _absolute(bulk), _absolute(molecule), _absolute(test_set), _absolute(ice), runs,
                 plan, folder, test_split, seconds_per_atom(config))
    timings = _timings(folder)
    for step in todo:
        step.estimate = timings.get(step.command_line(), step.estimate)
    pending = [s for s in todo if not s.done(folder)]
    elsewhere = [s for s in pending if s.program == "eqt-md" and is_locked(os.path.join(folder, s.outputs[0]))]
    click.echo(f"eqt-study: {len(todo)} steps, {len(todo) - len(pending)} done, {len(pending)} to run "
               f"(expected {_duration(sum(s.estimate for s in pending if s not in elsewhere))}"
               + (f"; {len(elsewhere)} MD runs in progress elsewhere" if elsewhere else "") + f") -> {folder}",
               err=True)
    for step in todo:
        state = "done" if step not in pending else "running" if step in elsewhere else f"~{_duration(step.estimate)}"
        click.echo(f"  {state:>9}  {step.name}", err=True)
    if plan_only:
        return
    bad_input = []
    with tqdm(total=round(sum(s.estimate for s in pending)), unit="s", disable=quiet, file=sys.stderr,
              desc="study", bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}") as bar:
        def on_start(step):
            bar.set_postfix_str(step.name)

        def on_end(step, code, log, seconds):
            bar.update(round(step.estimate))
            if not code:
                timings[step.command_line()] = seconds
                _save_timings(folder, timings)
                return True
            tail = [line.removeprefix("Error: ") for line in open(log).read().strip().splitlines()[-1:]] or \
                ["(no message)"]
            tqdm.write(f"step '{step.name}' failed (exit {code}): {tail[0]} [log: {log}]", file=sys.stderr)
            if code == 2:  # the step refused its input: later steps would too
                bad_input.append(f"step '{step.name}' refused its input: {tail[0]}")
                return False
            return True
        failed, waiting = run_steps(pending, todo, folder, jobs, on_start, on_end)
    written = report_mod.write(folder, todo, plan, quick)
    click.echo(f"eqt-study: report {written}" + (f"; {len(failed)} steps failed or skipped (run again to retry)"
                                                 if failed else "")
               + (f"; {len(waiting)} steps wait for MD runs that another process is writing ("
                  + ", ".join(s.name for s in waiting if s.program == "eqt-md") + "): run again when they end"
                  if waiting else ""), err=True)
    if bad_input:
        raise InputError(bad_input[0])
    if failed:
        raise click.exceptions.Exit(1)


def _inputs(step, todo):
    """Steps whose outputs this step reads."""
    return [s for s in todo if s is not step and any(o in step.argv for o in s.outputs)]


def _timings(folder):
    try:
        with open(os.path.join(folder, "logs", "timings.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _save_timings(folder, timings):
    _save_json(os.path.join(folder, "logs", "timings.json"), timings)


def _save_json(path, data):
    with open(path + ".tmp", "w") as handle:
        json.dump(data, handle, indent=1)
    os.replace(path + ".tmp", path)


def _duration(seconds):
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min" if seconds >= 90 else \
        f"{seconds:.0f} s"


if __name__ == "__main__":
    main()
