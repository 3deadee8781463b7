"""Fuzz and corruption suite over every eqt console script (issue 11, part 6).

Every command declared in setup.cfg is found through its installed entry point and run in
process (click's CliRunner) on bad inputs: a corpus of damaged files made from small valid
ones (tests/corpus.py), the hostile model files of tests/hostile_models.py, bad option values
found from each command's click parameters, and byte mutations drawn by hypothesis.

Expectations, checked by `run_case` for every case:

  fail        exit code 2; stderr is zero or more `warning: ` lines, then one `Error: ` line;
              no traceback; an input problem names the file (`Error: FILE: problem`, FILE one
              of the inputs as given); nothing under the output name and nothing else (no
              `.eqt-*` temporary) in the output folder; every input byte-identical afterwards
              (sha256) and no new file beside it.
  fail-or-ok  damage that may leave a readable file (random bit flips, cuts at a frame or line
              boundary, CRLF line endings, NaN in an array of an eqt .nc file that the command
              does not read): either `fail` as above, or exit code 0 with a valid result (the
              valid input's result variables, finite where that one is finite); inputs
              unchanged either way.
  ok          valid inputs (controls), also under paths with spaces and non-ASCII letters.

A command that needs a server (eqt-driver, Spec.server) cannot succeed here: its valid control
must end with exit code 2 and the one `Error:` line of a run that passed every check and found
no server (nothing written), and a bad input must be refused before that line is reached.

Known product bugs are listed in KNOWN_FAILURES: those cases are left out of the class tests
and an example of each runs as xfail(strict=False) in test_known_failure; with
EQT_FUZZ_RUN_KNOWN=1 they are run and checked like every other case (to shrink the list).

The counts per input class and command are printed at the end of the session; with
EQT_FUZZ_REPORT=PATH they are also written there as Markdown (docs/hardening.md).
"""
import collections
import configparser
import contextlib
import dataclasses
import fnmatch
import hashlib
import importlib.metadata
import json
import math
import os
import shutil
import tempfile
import time
import traceback
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from . import corpus as corpusmod

try:
    from .hostile_models import hostile_model_files
except ImportError:  # written by another engineer; the corpus then has only its own few model files
    hostile_model_files = None

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ the commands

def installed_commands():
    """{name: entry point} of the installed console scripts that live in eqt_cli."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group="console_scripts")
            if ep.value.startswith("eqt_cli.")}


def declared_commands():
    """{name: target} of setup.cfg's console_scripts."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict((part.strip() for part in line.split("=", 1)) for line in lines if line.strip())


INSTALLED = installed_commands()
MAIN, LOAD_ERRORS = {}, {}  # name -> click command; name -> why it cannot be imported
for _name, _ep in INSTALLED.items():
    try:
        MAIN[_name] = _ep.load()
    except Exception as _err:  # noqa: BLE001 - reported by test_every_declared_command_is_installed
        LOAD_ERRORS[_name] = f"{type(_err).__name__}: {_err}"


@dataclasses.dataclass(frozen=True)
class Mode:
    """One way of calling a command: the corpus kinds it fuzzes, the valid file of every input
    slot (keys of Corpus.valid) and the command line for {slot: path} and the output path."""

    kinds: tuple
    defaults: dict
    argv: object
    output: str | None = "out.nc"  # result file name in the output folder (None: prints only)
    extra_outputs: tuple = ()  # written beside the result ('{output}.ckpt': the result's name + .ckpt)


@dataclasses.dataclass(frozen=True)
class Spec:
    modes: tuple
    several_frames: bool = False  # statistics over time: one frame is refused
    waters: bool = False  # needs water molecules (as called here)
    skips: frozenset = frozenset()  # arrays it may leave unread in an eqt .nc / i-PI .out file
    # corpus files (fnmatch over their names) whose damage the command never reads (eqt-plot draws only
    # time, conserved_energy and temperature of a trajectory): refused or a valid output
    unread: tuple = ()
    slow: bool = False  # a successful run costs minutes (eqt-train): no valid controls here
    # a client of a server (eqt-driver): the error of a run that passed every input check and found no
    # server (see run_case); None for commands that run on their own
    server: str | None = None


def _topology(p):
    return ["-t", p["topology"]] if "topology" in p else []


def _analysis(*extra):
    """A trajectory command with -o: TRAJ -o OUT EXTRA [-t TOPOLOGY]."""
    return Mode(("traj", "topology"), {"traj": "traj.nc"},
                lambda p, out: [p["traj"], "-o", out, *extra, *_topology(p)])


TRAIN = ("--epochs", "1", "--n-test", "0")
ROTVAR = ("--grids", "1,i", "--n-random", "2")
EMT = ("--calculator", "ase.calculators.emt:EMT")  # an ASE calculator for H and O that needs no compiling
MD = ("--steps", "2", "--stride", "1")
# no server listens here: eqt-driver ends with `cannot connect` once every input is checked
SOCKET = ("--unix", f"eqt-fuzz-nobody-{os.getpid()}", "--timeout", "0")
NO_SERVER = ("--address", "localhost:1", "--timeout", "0")


# eqt-study runs for many minutes: fuzzed with --plan (its input checks, then the list of steps, about a
# second); its output is the report folder
STUDY = lambda p, out: [p["model"], "--bulk", p["structure"], "-o", out, "--plan"]  # noqa: E731


def _opt(*head):
    return lambda p, out: [*head, p["data"], "-o", out, "--structures-out", str(Path(out).with_name("out.xyz")),
                           "--steps", "2"]

# command -> how to call it. A command missing here fails test_every_command_is_fuzzed.
TABLE = {
    "eqt-convert": Spec((Mode(("traj", "topology"), {"traj": "traj.nc"},
                              lambda p, out: [p["traj"], out, *_topology(p)]),)),
    "eqt-info": Spec((Mode(("traj", "topology"), {"traj": "traj.nc"},
                           lambda p, out: [p["traj"], "--json", *_topology(p)], output=None),)),
    "eqt-rdf": Spec((_analysis("--rmax", "4", "--bins", "20", "--dipole"),), waters=True),
    "eqt-orient": Spec((_analysis("--grid", "8", "8", "--cells", "2", "2"),), several_frames=True, waters=True),
    "eqt-msd": Spec((_analysis("--blocks", "2"),), several_frames=True, skips=frozenset({"velocities", "forces"})),
    "eqt-rotcorr": Spec((_analysis(),), several_frames=True, waters=True),
    "eqt-vdos": Spec((_analysis(),), several_frames=True, skips=frozenset({"positions", "forces"})),
    "eqt-tcf": Spec((Mode(("traj",), {"traj": "traj.nc"},
                          lambda p, out: [p["traj"], "-v", "potential_energy", "-o", out]),
                     Mode(("series",), {"series": "props.out"},
                          lambda p, out: [p["series"], "-v", "potential_energy", "-o", out])),
                    several_frames=True, skips=frozenset({"positions", "velocities", "forces", "component"})),
    "eqt-angmom": Spec((_analysis("--drift-only"),), several_frames=True),
    "eqt-train": Spec((Mode(("data",), {"data": "data.xyz"}, lambda p, out: [p["data"], "-o", out, *TRAIN],
                            output="out.pkl", extra_outputs=("{output}.ckpt",)),
                       Mode(("model",), {"data": "data.xyz", "model": "model.pkl"},
                            lambda p, out: [p["data"], "-o", out, *TRAIN, "--resume", p["model"]],
                            output="out.pkl", extra_outputs=("{output}.ckpt",))), slow=True),
    "eqt-eval": Spec((Mode(("model", "data"), {"model": "model.pkl", "data": "data.xyz"},
                           lambda p, out: [p["model"], p["data"], "-o", out]),)),
    "eqt-rotvar": Spec((Mode(("model", "data"), {"model": "model.pkl", "data": "data.xyz"},
                             lambda p, out: [p["model"], p["data"], "-o", out, *ROTVAR]),
                        Mode(("series",), {"series": "props.out"},
                             lambda p, out: ["--from-properties", p["series"], "--atoms", "24", "-o", out])),
                       skips=frozenset({"energy", "time"})),
    # eqt-md and eqt-driver read one frame of a trajectory: corpus kind 'structure' (the damage is in
    # that frame; the trajectory kind's damage is mostly in frame 3) and test_structure_mutations. A
    # successful eqt-md run compiles the model (~10-20 s): its valid controls are its only ones.
    "eqt-md": Spec((Mode(("model", "structure"), {"model": "model.pkl", "structure": "one.nc"},
                         lambda p, out: [p["model"], p["structure"], "-o", out, *MD], extra_outputs=("{output}.ckpt",)),
                    Mode(("structure",), {"structure": "one.xyz"},
                         lambda p, out: [*EMT, p["structure"], "-o", out, *MD], extra_outputs=("{output}.ckpt",)))),
    "eqt-opt": Spec((Mode(("model", "data"), {"model": "model.pkl", "data": "data.xyz"},
                          lambda p, out: [p["model"], *_opt()(p, out)], extra_outputs=("out.xyz",)),
                     Mode(("data",), {"data": "data.xyz"}, _opt(*EMT), extra_outputs=("out.xyz",)))),
    "eqt-driver": Spec((Mode(("model", "structure"), {"model": "model.pkl", "structure": "one.xyz"},
                             lambda p, out: [p["model"], p["structure"], *SOCKET], output=None),
                        Mode(("structure",), {"model": "model.pkl", "structure": "one.nc"},
                             lambda p, out: [p["model"], p["structure"], *NO_SERVER], output=None)),
                       server="cannot connect to "),
    # eqt-compare and eqt-plot read eqt results (corpus kind 'result', made by eqt-rdf from traj.nc); the
    # damaged one is A (eqt-compare) or the first of two overlaid results (eqt-plot); eqt-plot also draws
    # eqt MD trajectories (time, conserved_energy, temperature: the rest is never read)
    "eqt-compare": Spec((Mode(("result",), {"result": "rdf.nc", "other": "rdf-b.nc"},
                              lambda p, out: [p["result"], p["other"], "-o", out]),)),
    "eqt-plot": Spec((Mode(("result",), {"result": "rdf.nc", "other": "rdf-b.nc"},
                           lambda p, out: [p["result"], p["other"], "-o", out], output="out.png"),
                      Mode(("traj",), {"traj": "traj.nc"}, lambda p, out: [p["traj"], "-o", out], output="out.png")),
                     skips=frozenset({"positions", "velocities", "forces", "cell", "energy"}),
                     unread=("species-*.nc", "bitflip-atomic-number-name.nc", "bitflip-coordinates-*.nc",
                             "bitflip-conventions.nc", "amber-without-atomic-number.nc")),
    "eqt-study": Spec((Mode(("model", "structure"), {"model": "model.pkl", "structure": "one.nc"}, STUDY,
                            output="report"),
                       Mode(("data",), {"model": "model.pkl", "structure": "one.nc", "data": "data.xyz"},
                            lambda p, out: [*STUDY(p, out), "--test-set", p["data"]], output="report")),
                      slow=True),
}
FUZZED = sorted(set(TABLE) & set(MAIN))
# positional arguments TABLE knows how to fill (click parameter names)
ARGUMENTS = {"eqt-convert": ["inputs", "output"], "eqt-info": ["path"], "eqt-tcf": ["paths"],
             "eqt-train": ["data"], "eqt-eval": ["model_file", "data"], "eqt-rotvar": ["model_file", "structures"],
             "eqt-md": ["model_file", "structure"], "eqt-opt": ["model_file", "structures"],
             "eqt-driver": ["model_file", "structure"], "eqt-compare": ["path_a", "path_b"], "eqt-plot": ["paths"],
             "eqt-study": ["model"], "eqt-angmom": ["path"],
             **{name: ["paths"] for name in ("eqt-rdf", "eqt-orient", "eqt-msd", "eqt-rotcorr", "eqt-vdos")}}


def option_names(command):
    """Every option string (-o, --output, ...) of a command."""
    return {opt for param in MAIN[command].params if isinstance(param, click.Option) for opt in param.opts}


def takes(kind):
    """Commands (and their mode index) with a mode fuzzing corpus kind `kind`."""
    return [(name, k) for name in FUZZED for k, mode in enumerate(TABLE[name].modes) if kind in mode.kinds]


def commands_taking(kind):
    return sorted({name for name, _ in takes(kind)})


# Bad option values beyond what the click types tell (mode index, extra arguments).
TRAJ_OPTIONS = [["--format", "bogus"], ["--format", "extxyz"], ["--topology", "{missing}"],
                ["--start", "12"], ["--start", "5", "--stop", "5"], ["--stop", "0"], ["--start", "99999999"]]
BAD_TEXT = {
    "eqt-convert": TRAJ_OPTIONS + [["-p", "{missing}"], ["-p", "{bad:props-nan-col2.out}"]],
    "eqt-info": [o for o in TRAJ_OPTIONS if o[0] not in ("--start", "--stop")],
    "eqt-rdf": TRAJ_OPTIONS + [["--pairs", "O-Xx"], ["--pairs", "O-C"], ["--pairs", "O"], ["--pairs", ","],
                               ["--pairs", "O-H-H"], ["--rmax", "7"], ["--rmax", "4", "--bandwidth", "1"]],
    "eqt-orient": TRAJ_OPTIONS,
    "eqt-msd": TRAJ_OPTIONS + [["--species", "Xx"], ["--species", "C"], ["--species", ","],
                               ["--fit-start", "0.015", "--fit-stop", "0.005"], ["--fit-stop", "1000"],
                               ["--viscosity", "1"]],
    "eqt-rotcorr": TRAJ_OPTIONS,
    "eqt-vdos": TRAJ_OPTIONS + [["--species", "Xx"], ["--species", "C"], ["--window", "bogus"]],
    "eqt-tcf": [["-v", "nope"], ["-v", "positions"], ["-v", "atomic_number"], ["--minus", "nope"],
                ["--window", "bogus"], ["--format", "bogus"], ["--skip", "12"], ["--skip", "11"]],
    "eqt-angmom": TRAJ_OPTIONS + [["--start", "10"]],
    "eqt-train": [["--energy-key", "nope"], ["--forces-key", "nope"], ["--n-test", "3"],
                  ["--resume", "{valid:model.pkl}"], ["-o", "-"]],
    "eqt-eval": [["--average", "bogus"], ["--average", "2", "--random-rotation"], ["--energy-key", "nope"],
                 ["--forces-key", "nope"], ["--test-split"]],
    "eqt-rotvar": [["--grids", "bogus"], ["--grids", ","], ["--grids", "1,1"], ["--calculator", "no_such_module:make"],
                   ["--calculator", "os:getcwd"], ["--calculator", "nocolon"],
                   ["--from-properties", "{missing}"]],
    "eqt-md": [["--timestep", "0"], ["--mts", "2"], ["--mts", "2", "--stride", "2"],
               ["--mts", "2", "--stride", "2", "--average", "2", "--random-rotation"],
               ["--steps", "3", "--mts", "2", "--average", "i"], ["--steps", "2", "--time", "1"], ["--replay"],
               ["--restart"], ["--frame", "99999"], ["--frame", "-2"], ["--format", "bogus"], ["--format", "extxyz"],
               [*EMT], ["-o", "{valid:model.pkl}"], ["-o", "{valid:one.xyz}"]],
    "eqt-opt": [["--average", "bogus"], ["--compare", "bogus"], ["--average", "2", "--compare", "2"],
                ["--average", "2", "--random-rotation"], ["--compare", "2", "--random-rotation"], ["--fmax", "0"],
                ["--fmax", "nan"], ["--steps", "0"], ["--optimizer", "GPMin"], [*EMT],
                ["--structures-out", "{valid:data.xyz}"], ["--structures-out", "{valid:model.pkl}"],
                ["-o", "{valid:data.xyz}"]],
    "eqt-driver": [["--average", "bogus"], ["--average", "2", "--random-rotation"], ["--address", "localhost:31415"],
                   ["--unix", "a/b"], ["--unix", ""], ["--format", "bogus"], ["--format", "netcdf"]],
    "eqt-compare": [["--var", "nope"], ["--var", ""], ["--var", "g_err"], ["--var", "r"], ["--var", "pair_count"],
                    ["--var", "g", "--var", "nope"], ["--json", "-o", "-"], ["-o", "{valid:rdf.nc}"],
                    ["-o", "{valid:rdf-b.nc}"], ["--plot", "{valid:rdf.nc}"], ["-o", "/nonexistent-eqt-fuzz ☃/x.nc"]],
    "eqt-plot": [["-o", "fig.txt"], ["-o", "fig"], ["-o", "fig.png.nc"], ["-o", "{valid:rdf.nc}"],
                 ["-o", "/nonexistent-eqt-fuzz ☃/fig.png"], ["--label", "a"], ["--label", "a", "--label", "b", "--label", "c"]],
    "eqt-study": [["--bulk", ""], ["--bulk", "{missing}"], ["--bulk", "{bad:folder.nc}"],
                  ["--bulk", "{valid:model.pkl}"], ["--bulk", "{valid:data.xyz}"], ["--molecule", "{missing}"],
                  ["--molecule", "{valid:model.pkl}"], ["--molecule", "{bad:one-species-Xx.xyz}"],
                  ["--test-set", "{missing}"], ["--test-set", "{valid:model.pkl}"], ["--ice", "{missing}"],
                  ["--ice", "{bad:data-folder.xyz}"], ["--ice", "{bad:data-Cl.xyz}"], ["-o", "{valid:one.xyz}"],
                  ["--runs", "{valid:one.xyz}"]],
}
BAD_TEXT_MODE1 = {"eqt-rotvar": [["--columns", "1=nope"], ["--columns", "garbage"], ["--columns", "1=time,i"],
                                 ["--skip", "40"]],
                  "eqt-tcf": [["-v", "nope"], ["--minus", "nope"], ["--skip", "40"]],
                  # the calculator modes (with MODEL, --calculator is refused before it is built)
                  **{name: [["--calculator", "no_such_module:make"], ["--calculator", "os:getcwd"],
                            ["--calculator", "nocolon"]] for name in ("eqt-md", "eqt-opt")},
                  "eqt-plot": [["-o", "fig.txt"], ["--label", "a", "--label", "b"]],
                  "eqt-driver": [["--address", "localhost"], ["--address", "localhost:0"],
                                 ["--address", "localhost:65536"], ["--address", "[::1]:31415"],
                                 ["--address", "localhost:http"], ["--address", ""]]}
# Requests for more memory (or work) than a machine has: refused before any allocation.
MEMORY_BOMBS = {
    "eqt-rdf": [["--bins", "100000000"], ["--bins", "100000000", "--anisotropy"], ["--bins", "10000000000000"],
                ["--bins", str(10**30)], ["--bins", "30000000", "--bandwidth", "0.01"]],
    "eqt-orient": [["--grid", "100000", "100000"], ["--grid", "1000000000", "2"], ["--cells", "100000", "100000"],
                   ["--grid", str(10**30), "2"], ["--cells", "2", str(10**30)]],
    "eqt-rotvar": [["--n-random", "100000000"], ["--n-random", str(10**30)]],
}
# Integer options for which 10**30 is a bad value (selects nothing, or more than the file holds);
# elsewhere it is legal (--stop, --chunk, --memory, --seed ...) or a time bomb (--epochs).
HUGE_INT_BAD = {"--start", "--skip", "--blocks", "--block", "--n-test"}
HUGE_INT_MODE1 = {("eqt-rotvar", "--skip")}


# ------------------------------------------------------------------------------ known failures

@dataclasses.dataclass(frozen=True)
class Known:
    """A product bug this suite finds, left to the owners of the code (see the module doc).

    `commands` are command names, `case` an fnmatch pattern over case names. Without
    `signature` the matching cases are not run (tallied as known failures); with it they run,
    and a failure whose report contains `signature` is tallied as known, any other failure
    still fails. test_known_failure runs `example` with the first command as xfail."""

    commands: tuple
    case: str
    reason: str
    example: str
    signature: str | None = None


KNOWN_FAILURES = []  # (Known entries: product bugs the suite found and that are not fixed yet)


def known(command, name):
    if os.environ.get("EQT_FUZZ_RUN_KNOWN"):  # to see which known failures still fail
        return []
    return [entry for entry in KNOWN_FAILURES
            if command in entry.commands and (name == entry.case or fnmatch.fnmatchcase(name, entry.case))]


# ------------------------------------------------------------------------------ cases

@dataclasses.dataclass
class Case:
    command: str
    name: str
    klass: str
    expect: str  # fail, fail-or-ok, ok
    mode: int
    paths: dict  # slot -> input path
    extra: list = dataclasses.field(default_factory=list)
    files: dict = dataclasses.field(default_factory=dict)  # slot -> bytes: written into a fresh input folder
    names_file: bool = True  # the error must name an input
    output_name: str | None = None  # instead of the mode's


TALLY = collections.Counter()  # (class, command, expect, outcome) -> cases
STARTED = time.monotonic()


def _valid_paths(corpus, mode, odd=False):
    out = {}
    for slot, key in mode.defaults.items():
        out[slot] = str(corpus.valid["odd:" + key] if odd and "odd:" + key in corpus.valid else corpus.valid[key])
    return out


def _expect_for(spec, bad):
    if bad.maybe_ok or any(fnmatch.fnmatchcase(bad.name, pattern) for pattern in spec.unread):
        return "fail-or-ok"
    if bad.array and bad.path.suffix in (".nc", ".out") and bad.array in spec.skips:
        return "fail-or-ok"
    return "fail"


def _applies(command, bad):
    spec = TABLE[command]
    if bad.commands is None:
        return True
    if bad.commands == "several_frames":
        return spec.several_frames
    if bad.commands == "waters":
        return spec.waters
    return command in bad.commands


def file_cases(corpus, command, klass):
    """Case names of the corpus files of class `klass` that `command` takes."""
    spec = TABLE[command]
    names = []
    for bad in corpus.bad.values():
        if bad.klass != klass or not _applies(command, bad):
            continue
        if any(bad.kind in mode.kinds for mode in spec.modes):
            names.append("file:" + bad.name)
    return names


def _fill(text, corpus, folder):
    if text == "{missing}":
        return str(folder / "no such file.nc")
    if text.startswith("{bad:"):
        return str(corpus.bad[text[5:-1]].path)
    if text.startswith("{valid:"):
        return str(corpus.valid[text[7:-1]])
    return text


def build_case(corpus, command, name):
    """The Case called `name` (see the name forms below) for `command`."""
    spec = TABLE[command]
    kind, _, rest = name.partition(":")
    if kind == "file":
        bad = corpus.bad[rest]
        k = next(i for i, m in enumerate(spec.modes) if bad.kind in m.kinds)
        paths = _valid_paths(corpus, spec.modes[k])
        for slot, key in (bad.pair or {}).items():
            paths[slot] = str(corpus.valid[key])
        paths[bad.kind] = str(bad.path)
        return Case(command, name, bad.klass, _expect_for(spec, bad), k, paths)
    if kind in ("valid", "odd"):
        k = int(rest)
        mode = spec.modes[k]
        suffix = Path(mode.output).suffix if mode.output else ""
        return Case(command, name, "valid control" if kind == "valid" else "paths with spaces / non-ASCII",
                    "ok", k, _valid_paths(corpus, mode, odd=kind == "odd"),
                    output_name=f"résultat ☃{suffix}" if kind == "odd" and mode.output else None)
    if kind in ("opt", "text", "bomb"):
        k, _, args = rest.partition(":")
        k = int(k)
        extra = [_fill(a, corpus, corpus.root) for a in json.loads(args)]
        unknown = [a for a in extra if a.startswith("-") and len(a) > 1 and not _numeric(a)
                   and a not in option_names(command)]
        assert not unknown, f"{command} has no option {unknown}: update the case tables of tests/test_fuzz.py"
        klass = {"opt": "bad option value", "text": "bad option value (text)", "bomb": "memory request beyond the machine"}[kind]
        return Case(command, name, klass, "fail", k, _valid_paths(corpus, spec.modes[k]), extra, names_file=False)
    # byte mutations of valid files, drawn by hypothesis
    parts = rest.split(":")
    if kind == "nc-cut":
        return _mutated(corpus, command, name, "traj", "traj.nc", "truncated NetCDF", "fail",
                        corpus.nc_layout["bytes"][:int(parts[0])])
    if kind == "nc-flip":
        data = bytearray(corpus.nc_layout["bytes"])
        for item in parts:
            offset, mask = (int(x) for x in item.split("^"))
            data[offset] ^= mask
        return _mutated(corpus, command, name, "traj", "traj.nc", "bit-flipped NetCDF", "fail-or-ok", bytes(data))
    if kind == "nc-slot":
        array, frame, index, value = parts[0], int(parts[1]), int(parts[2]), float(parts[3])
        var = NC_VARS[array]
        data = corpusmod.nc_patch(corpus.nc_layout["bytes"], corpus.nc_layout, var, frame, index, value)
        klass = "NaN/inf in an array" if not math.isfinite(value) else "flipped digit (2e20)"
        return _mutated(corpus, command, name, "traj", "traj.nc", klass,
                        "fail-or-ok" if array in spec.skips else "fail", data)
    if kind == "xyz-cut":
        cut = int(parts[0])
        text = corpus.nc_layout["xyz"]
        expect = "fail-or-ok" if cut in corpusmod.frame_starts(text)[1:] else "fail"
        return _mutated(corpus, command, name, "traj", "traj.xyz", "truncated text", expect, text[:cut].encode())
    if kind == "xyz-token":
        frame, atom, column, value = int(parts[0]), int(parts[1]), int(parts[2]), parts[3]
        text = corpusmod.set_token(corpus.nc_layout["xyz"], frame, atom, column, value)
        return _mutated(corpus, command, name, "traj", "traj.xyz", _token_class(value), "fail", text.encode())
    if kind == "xyz-comment":
        frame, key, value = int(parts[0]), parts[1], parts[2]
        if key == "Lattice":
            entries = [str(corpusmod.BOX) if i in (0, 4, 8) else "0.0" for i in range(9)]
            entries[int(parts[3])] = value
            value = '"' + " ".join(entries) + '"'
        text = corpusmod.set_comment(corpus.nc_layout["xyz"], frame, key, value)
        return _mutated(corpus, command, name, "traj", "traj.xyz", _token_class(parts[2]), "fail", text.encode())
    if kind == "model-cut":
        return _mutated(corpus, command, name, "model", "model.pkl", "hostile model file", "fail",
                        corpus.nc_layout["model_bytes"][:int(parts[0])])
    if kind == "model-flip":
        data = bytearray(corpus.nc_layout["model_bytes"])
        offset, mask = (int(x) for x in parts[0].split("^"))
        data[offset] ^= mask
        return _mutated(corpus, command, name, "model", "model.pkl", "hostile model file", "fail-or-ok", bytes(data))
    if kind == "props-cut":
        text = corpus.nc_layout["props_text"]
        cut = int(parts[0])
        expect = "fail-or-ok" if text[:cut].endswith("\n") else "fail"
        return _mutated(corpus, command, name, "series", "props.out", "truncated text", expect, text[:cut].encode())
    if kind == "props-token":
        row, column, value = int(parts[0]), int(parts[1]), parts[2]
        text = corpus.nc_layout["props_text"]
        lines = text.splitlines()
        first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
        tokens = lines[first + row].split()
        tokens[column] = value
        lines[first + row] = " ".join(tokens)
        klass = _token_class(value)
        used = {"eqt-tcf": (1, 2), "eqt-rotvar": tuple(range(3, 9))}[command]
        expect = "fail" if klass == "malformed text" or column in used else "fail-or-ok"
        return _mutated(corpus, command, name, "series", "props.out", klass, expect, ("\n".join(lines) + "\n").encode())
    if kind == "data-token":
        frame, atom, column, value = int(parts[0]), int(parts[1]), int(parts[2]), parts[3]
        frames = corpusmod.xyz_frames(corpus.nc_layout["data_text"])
        tokens = frames[frame][2 + atom].split()
        tokens[column] = value
        frames[frame][2 + atom] = " ".join(tokens)
        return _mutated(corpus, command, name, "data", "data.xyz", _token_class(value), "fail",
                        corpusmod.xyz_text(frames).encode())
    # one-frame structures (eqt-md, eqt-driver): every cut and every bad number is in the frame read
    if kind == "one-nc-cut":
        return _mutated(corpus, command, name, "structure", "one.nc", "truncated NetCDF", "fail",
                        corpus.valid["one.nc"].read_bytes()[:int(parts[0])])
    if kind == "one-xyz-cut":
        return _mutated(corpus, command, name, "structure", "one.xyz", "truncated text", "fail",
                        corpus.valid["one.xyz"].read_bytes()[:int(parts[0])])
    if kind == "one-xyz-token":
        atom, column, value = int(parts[0]), int(parts[1]), parts[2]
        text = corpusmod.set_token(corpus.valid["one.xyz"].read_text(), 0, atom, column, value)
        return _mutated(corpus, command, name, "structure", "one.xyz", _token_class(value), "fail", text.encode())
    # analysis results (eqt-compare, eqt-plot): NetCDF-4 (HDF5) bytes cut or bit-flipped
    if kind == "result-cut":
        return _mutated(corpus, command, name, "result", "rdf.nc", "truncated NetCDF", "fail",
                        corpus.valid["rdf.nc"].read_bytes()[:int(parts[0])])
    if kind == "result-flip":
        data = bytearray(corpus.valid["rdf.nc"].read_bytes())
        for item in parts:
            offset, mask = (int(x) for x in item.split("^"))
            data[offset] ^= mask
        return _mutated(corpus, command, name, "result", "rdf.nc", "bit-flipped NetCDF", "fail-or-ok", bytes(data))
    raise ValueError(f"unknown case {name!r}")


NC_VARS = {"positions": "coordinates", "velocities": "velocities", "forces": "forces", "cell": "cell",
           "energy": "potential_energy", "conserved": "conserved_energy", "time": "time"}


def _token_class(value):
    try:
        number = float(value)
    except ValueError:
        return "malformed text"
    return "NaN/inf in an array" if not math.isfinite(number) else "flipped digit (2e20)"


def _mutated(corpus, command, name, slot, key, klass, expect, data):
    spec = TABLE[command]
    k = next(i for i, m in enumerate(spec.modes) if slot in m.kinds)
    paths = _valid_paths(corpus, spec.modes[k])
    paths[slot] = Path(key).name  # written into the case's input folder
    return Case(command, name, klass, expect, k, paths, files={slot: data})


# ------------------------------------------------------------------------------ running, checking

def digest(path):
    path = Path(path)
    if path.is_dir():
        return "dir:" + ",".join(sorted(os.listdir(path)))
    if not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


class CaseFailed(AssertionError):
    pass


_REFERENCE = {}  # (command, mode) -> {variable: all finite} of the valid input's result


def run_case(corpus, case, scratch):
    """Run one case in a fresh folder and check it; returns 'refused' or 'accepted'."""
    spec = TABLE[case.command]
    mode = spec.modes[case.mode]
    folder = Path(tempfile.mkdtemp(dir=scratch))
    in_dir, out_dir = folder / "in", folder / "out ☃" if case.output_name else folder / "out"
    in_dir.mkdir()
    out_dir.mkdir()
    paths = dict(case.paths)
    for slot, data in case.files.items():
        target = in_dir / paths[slot]
        target.write_bytes(data)
        paths[slot] = str(target)
    output_name = case.output_name or mode.output
    out = str(out_dir / (output_name or "out.nc"))
    argv = [str(a) for a in mode.argv(paths, out)] + [str(a) for a in case.extra]
    if "--quiet" in option_names(case.command) and "-q" not in argv:
        argv.append("-q")  # no progress bar on stderr
    inputs = sorted({p for p in paths.values()} | {a for a in case.extra if os.path.isabs(a) and os.path.exists(a)})
    before = {p: digest(p) for p in inputs}
    beside = {os.path.dirname(p): sorted(os.listdir(os.path.dirname(p))) for p in inputs if os.path.exists(p)}
    cwd = os.getcwd()
    os.chdir(out_dir)
    try:
        with memory_cap(MEMORY_CAP):
            result = CliRunner().invoke(MAIN[case.command], argv, prog_name=case.command, catch_exceptions=True)
    finally:
        os.chdir(cwd)
    problems = []
    stderr, stdout = result.stderr, result.stdout
    exc = result.exception
    crashed = exc is not None and not isinstance(exc, SystemExit)
    if crashed:
        problems.append("uncaught exception:\n" + "".join(traceback.format_exception(*result.exc_info))[-3000:])
    if "Traceback" in stderr or "Traceback" in stdout:
        problems.append("a traceback was printed")
    left = sorted(os.listdir(out_dir))
    for p in inputs:
        if digest(p) != before[p]:
            problems.append(f"input changed: {p}")
    for d, names in beside.items():
        if sorted(os.listdir(d)) != names:
            problems.append(f"files appeared or vanished beside the inputs in {d}: "
                            f"{sorted(set(os.listdir(d)) ^ set(names))}")
    lines = [line for line in stderr.splitlines() if line.strip()]
    # a client that passed every check and found no server (Spec.server): the end of a valid run here
    reached = bool(spec.server) and bool(lines) and lines[-1].startswith("Error: " + spec.server)
    if spec.server and result.exit_code == 0:
        problems.append("exit code 0, but no server runs")
    if result.exit_code == 0 and case.expect in ("ok", "fail-or-ok") and not crashed:
        outcome = "accepted"
        expected = sorted(x.replace("{output}", output_name or "") for x in [output_name, *mode.extra_outputs] if x)
        if left != expected:
            problems.append(f"output folder holds {left}, expected {expected}")
        elif output_name:
            problems.extend(_check_result(corpus, case, out, result))
        else:
            try:
                json.loads(stdout)
            except ValueError:
                problems.append("stdout is not the JSON summary")
    else:
        outcome = "accepted" if reached else "refused"
        if result.exit_code != 2:
            wanted = "2" if spec.server or case.expect == "fail" else "0" if case.expect == "ok" else "0 or 2"
            problems.append(f"exit code {result.exit_code}, expected {wanted}")
        if case.expect == "ok" and not reached:
            problems.append("valid input refused" + (f" (expected the error `{spec.server}...`: no server)"
                                                     if spec.server else ""))
        if case.expect == "fail" and reached:
            problems.append("bad input not refused: the run got as far as connecting to the server")
        errors = [line for line in lines if line.startswith("Error:")]
        if len(errors) != 1 or not lines or not lines[-1].startswith("Error: "):
            problems.append("stderr is not `warning:` lines then one `Error:` line")
        elif any(not line.startswith("warning: ") for line in lines[:-1]):
            problems.append("stderr has lines other than `warning: ` before the error")
        elif case.names_file and not reached and not names_an_input(lines[-1], inputs, argv):
            problems.append("the error does not start with the name of an input (`Error: FILE: problem`)")
        if left:
            problems.append(f"output folder not empty after a failure: {left}")
    shutil.rmtree(folder, ignore_errors=True)
    if problems:
        raise CaseFailed(f"{case.command} [{case.name}] ({case.klass}, expected {case.expect}):\n  "
                         + "\n  ".join(problems)
                         + f"\n  argv: {argv}\n  exit code: {result.exit_code}\n  stderr: {stderr[-1500:]!r}"
                         + f"\n  stdout: {stdout[-500:]!r}")
    return outcome


MEMORY_CAP = 4 * 2**30  # bytes of address space a case may add: an unguarded bomb fails, the machine lives


@contextlib.contextmanager
def memory_cap(extra):
    """Limit this process's address space to its current size + `extra` bytes while a case
    runs (RLIMIT_AS; the soft limit is restored afterwards): a memory request the command does
    not refuse ends in MemoryError (a failed case) instead of exhausting the shared machine."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as handle:
            size = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):
        yield
        return
    cap = size + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def names_an_input(line, inputs, argv):
    """`Error: FILE: problem` with FILE one of the inputs; also accepted: click's usage error
    naming the file (`Error: Invalid value for '--resume': File '...' is a directory.`), and
    `Error: --option: problem` for an option of the command line that the input contradicts
    (`Error: --dipole: no water molecules ...`)."""
    text = line[len("Error: "):]
    if any(text.startswith(p) for p in inputs):
        return True
    if text.startswith("Invalid value for ") and any(p in text for p in inputs):
        return True
    option = text.split(":", 1)[0]
    return option.startswith("--") and option in argv


def _finite_map(path, command):
    import xarray as xr

    if command == "eqt-convert":
        import warnings

        from eqt_analysis import io

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. atomic_number 0 passed through: already warned
            ds = io.open_trajectory(path).load()  # eqt's reader checks every number
    else:
        ds = xr.load_dataset(path)
    return {name: bool(np.all(np.isfinite(var.values))) for name, var in ds.data_vars.items()
            if var.dtype.kind == "f"}


def _check_figure(path):
    """eqt-plot's figure: a PNG that can be read back (a PDF or SVG: its signature)."""
    head = Path(path).read_bytes()[:8]
    if Path(path).suffix.lower() == ".png":
        from PIL import Image

        with Image.open(path) as image:
            image.load()
        return []
    return [] if head.startswith((b"%PDF", b"<?xml", b"<svg")) else [f"not a figure: {head!r}"]


# outputs that are not NetCDF results: a check of the output path -> problems
OUTPUT_CHECKS = {
    "eqt-plot": _check_figure,
    # eqt-study --plan: the report folder (only molecule.xyz in it; never a report without its steps)
    "eqt-study": lambda path: [] if os.path.isdir(path) else [f"{path} is not the report folder"],
}


def _check_result(corpus, case, out, result):
    """A result of exit code 0: readable, and finite where the valid input's result is."""
    if case.command == "eqt-train":
        return []  # not reached in this suite (training is never run)
    if case.command in OUTPUT_CHECKS:
        try:
            return OUTPUT_CHECKS[case.command](out)
        except Exception as err:  # noqa: BLE001 - any failure to read the output is the finding
            return [f"the output cannot be read: {type(err).__name__}: {err}"]
    try:
        got = _finite_map(out, case.command)
    except Exception as err:  # noqa: BLE001 - any failure to read the result is the finding
        return [f"the result cannot be read: {type(err).__name__}: {err}"]
    if case.expect == "ok":
        return []  # readable (a small valid sample may leave NaN where statistics are undefined)
    key = (case.command, case.mode)
    if key not in _REFERENCE:
        raise RuntimeError("valid controls run first (see run_named)")
    ref = _REFERENCE[key]
    problems = [f"variable {name} missing from the result" for name in ref if name not in got]
    problems += [f"non-finite values in {name} (finite for the valid input)" for name, ok in ref.items()
                 if ok and not got.get(name, True)
                 and not any(fnmatch.fnmatchcase(name, pattern) for pattern in MAY_BE_INFINITE.get(case.command, ()))]
    return problems


# Result variables that are legitimately infinite for a small (e.g. cut) sample: eqt-orient's
# free energy F = -ln P is +inf in a grid cell no molecule visited.
# eqt-compare: a difference is not finite where an input value is not (such points are left out of the
# verdict, as documented). Names or fnmatch patterns.
MAY_BE_INFINITE = {"eqt-orient": ("F", "F_err", "chi2", "max_abs_F", "rms_F"),
                   "eqt-compare": ("*_diff", "*_diff_err", "*_z")}


def reference(corpus, command, mode, scratch):
    """Run the valid control of (command, mode) once and remember which variables are finite."""
    key = (command, mode)
    if key not in _REFERENCE:
        case = build_case(corpus, command, f"valid:{mode}")
        folder = Path(tempfile.mkdtemp(dir=scratch))
        spec_mode = TABLE[command].modes[mode]
        out = folder / ("ref" + (Path(spec_mode.output).suffix if spec_mode.output else ".nc"))
        paths = dict(case.paths)
        result = CliRunner().invoke(MAIN[command], [str(a) for a in spec_mode.argv(paths, str(out))])
        assert result.exit_code == 0, f"valid control of {command} failed: {result.stderr}"
        _REFERENCE[key] = _finite_map(out, command) if spec_mode.output and command not in OUTPUT_CHECKS else {}
        shutil.rmtree(folder)
    return _REFERENCE[key]


def run_named(corpus, scratch, command, name):
    """Build, run and tally one case; a KNOWN_FAILURES case is skipped (tallied as known)."""
    case = build_case(corpus, command, name)
    entries = known(command, name)
    if any(entry.signature is None for entry in entries):
        TALLY[(case.klass, command, case.expect, "known failure")] += 1
        return "known"
    mode = TABLE[command].modes[case.mode]
    if case.expect == "fail-or-ok" and mode.output and not TABLE[command].slow:
        reference(corpus, command, case.mode, scratch)
    try:
        outcome = run_case(corpus, case, scratch)
    except CaseFailed as err:
        if any(entry.signature in str(err) for entry in entries):
            TALLY[(case.klass, command, case.expect, "known failure")] += 1
            return "known"
        TALLY[(case.klass, command, case.expect, "FAILED")] += 1
        raise
    TALLY[(case.klass, command, case.expect, outcome)] += 1
    return outcome


def run_all(corpus, scratch, command, names):
    """Run every named case; report all failures at once."""
    failures = []
    for name in names:
        try:
            run_named(corpus, scratch, command, name)
        except CaseFailed as err:
            failures.append(str(err))
    assert not failures, f"{len(failures)} of {len(names)} cases failed:\n\n" + "\n\n".join(failures)


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    return corpusmod.build(tmp_path_factory.mktemp("corpus"), hostile_model_files)


@pytest.fixture(scope="session")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("cases")


class _Report:
    """Prints the case counts at the end of the session (and writes EQT_FUZZ_REPORT)."""

    def pytest_terminal_summary(self, terminalreporter):
        if not TALLY:
            return
        text = report(time.monotonic() - STARTED)
        terminalreporter.write_sep("=", "eqt fuzz suite: cases per input class and command")
        terminalreporter.write_line(text)
        target = os.environ.get("EQT_FUZZ_REPORT")
        if target:
            Path(target).write_text(markdown(), encoding="utf-8")
            terminalreporter.write_line(f"written to {target}")


@pytest.fixture(scope="session", autouse=True)
def _report_plugin(request):
    plugin = _Report()
    if not request.config.pluginmanager.is_registered(plugin):
        request.config.pluginmanager.register(plugin, "eqt-fuzz-report")
    yield


def _rows():
    classes = collections.defaultdict(lambda: collections.Counter())
    commands = collections.defaultdict(set)
    outcomes = collections.defaultdict(collections.Counter)
    for (klass, command, expect, outcome), n in TALLY.items():
        classes[klass][command] += n
        commands[klass].add(command)
        outcomes[klass][(expect, outcome)] += n
    return classes, commands, outcomes


def _bad_inputs():
    """(number of bad-input cases, Counter of them per command) from the tally."""
    per_command = collections.Counter()
    for (k, c, e, o), n in TALLY.items():
        if e != "ok":
            per_command[c] += n
    return sum(per_command.values()), per_command


def report(seconds):
    classes, _, outcomes = _rows()
    bad, per_command = _bad_inputs()
    lines = [f"{'input class':<36} {'cases':>6}  per command"]
    for klass in sorted(classes):
        total = sum(classes[klass].values())
        detail = ", ".join(f"{c.removeprefix('eqt-')} {n}" for c, n in sorted(classes[klass].items()))
        lines.append(f"{klass:<36} {total:>6}  {detail}")
    lines.append("bad-input cases per command: " + ", ".join(f"{c} {n}" for c, n in sorted(per_command.items())))
    failed = sum(n for (k, c, e, o), n in TALLY.items() if o == "FAILED")
    known_n = sum(n for (k, c, e, o), n in TALLY.items() if o == "known failure")
    lines.append(f"total: {bad} bad-input cases over {len(per_command)} commands ({bad - failed - known_n} passed, "
                 f"{failed} failed, {known_n} known failures not run or tolerated), "
                 f"{sum(TALLY.values()) - bad} valid controls; {seconds:.0f} s")
    return "\n".join(lines)


OUTCOME_WORDS = [  # (expect, outcome) -> words, in table order
    (("fail", "refused"), "exit 2 with one `Error:` line"),
    (("fail-or-ok", "refused"), "readable damage refused (exit 2, one `Error:` line)"),
    (("fail-or-ok", "accepted"), "readable damage accepted (exit 0, valid result)"),
    (("ok", "accepted"), "valid input: exit 0, valid result"),
]


def _outcome_words(counter):
    words = [f"{counter[key]} {text}" for key, text in OUTCOME_WORDS if counter[key]]
    known_n = sum(n for (expect, outcome), n in counter.items() if outcome == "known failure")
    failed = sum(n for (expect, outcome), n in counter.items() if outcome == "FAILED")
    if known_n:
        words.append(f"{known_n} known failures (KNOWN_FAILURES)")
    if failed:
        words.append(f"{failed} FAILED")
    return "; ".join(words)


def markdown():
    classes, commands, outcomes = _rows()
    bad, per_command = _bad_inputs()
    out = ["# Hardening: the fuzz and corruption suite", "",
           "`tests/test_fuzz.py` runs every console script declared in setup.cfg (found through the "
           "installed entry points) on damaged inputs generated by `tests/corpus.py`, the hostile model "
           "files of `tests/hostile_models.py`, bad option values read from each command's click "
           "parameters, and byte mutations drawn by hypothesis (derandomized). Every bad input must "
           "end with exit code 2 and one line `Error: FILE: problem` (warnings before it allowed), no "
           "traceback, nothing under the output name, no `.eqt-*` temporary, and every input "
           "byte-identical (sha256). Damage that can leave a readable file (random bit flips, cuts at a "
           "frame boundary, CRLF, NaN in an array the command does not read) may instead give exit 0 "
           "with a valid result.", "",
           "Numbers from `EQT_FUZZ_REPORT=docs/hardening.md python -m pytest -q tests/test_fuzz.py`.", "",
           "| input class | commands | cases | outcome |", "|---|---|---:|---|"]
    for klass in sorted(classes):
        names = ", ".join(c.removeprefix("eqt-") for c in sorted(commands[klass]))
        out.append(f"| {klass} | {names} | {sum(classes[klass].values())} | {_outcome_words(outcomes[klass])} |")
    out += ["", "| command | bad-input cases |", "|---|---:|"]
    out += [f"| {c} | {n} |" for c, n in sorted(per_command.items())]
    known_n = sum(n for (k, c, e, o), n in TALLY.items() if o == "known failure")
    failed = sum(n for (k, c, e, o), n in TALLY.items() if o == "FAILED")
    out += ["", f"Total: **{bad} bad-input cases** over {len(per_command)} commands: {bad - known_n - failed} "
                f"pass, {known_n} are known failures (below), {failed} failed; plus "
                f"{sum(TALLY.values()) - bad} valid controls.", ""]
    if KNOWN_FAILURES:
        out += ["Known failures (left to the owners of the code; run as xfail):", ""]
        grouped = {}  # (commands, reason) -> ([case patterns], first example): one line per bug
        for k in KNOWN_FAILURES:
            cases, _ = grouped.setdefault((k.commands, k.reason), ([], k.example))
            if k.case not in cases:
                cases.append(k.case)
        out += [f"- {', '.join(commands)}: {', '.join(f'`{c}`' for c in cases)} (e.g. `{example}`): {reason}"
                for (commands, reason), (cases, example) in grouped.items()]
        out.append("")
    return "\n".join(out)


# ------------------------------------------------------------------------------ tests: discovery

def test_every_declared_command_is_installed():
    """The installed entry points are setup.cfg's: a command added there is fuzzed once installed."""
    assert set(INSTALLED) == set(declared_commands()), (
        "setup.cfg's console_scripts and the installed eqt_cli entry points differ: reinstall "
        "(pip install -e .)")
    assert not LOAD_ERRORS, f"commands that cannot be imported: {LOAD_ERRORS}"
    for name in INSTALLED:
        assert isinstance(MAIN[name], click.Command), name


def test_every_command_is_fuzzed():
    missing = sorted(set(INSTALLED) - set(TABLE))
    assert not missing, (f"commands without a fuzz recipe: {missing}; add them to TABLE in "
                         "tests/test_fuzz.py (their inputs, options and output)")
    stale = sorted(set(TABLE) - set(INSTALLED))
    assert not stale, f"TABLE names commands that are not installed: {stale}"
    for name in FUZZED:
        arguments = [p.name for p in MAIN[name].params if isinstance(p, click.Argument)]
        assert arguments == ARGUMENTS[name], (f"{name} now takes the arguments {arguments}: update its "
                                              "recipe in TABLE (tests/test_fuzz.py) and ARGUMENTS")


@pytest.mark.parametrize("command", sorted(MAIN))
def test_help(command):
    """--help works (exit 0, usage on stdout) and lists the options the suite fuzzes."""
    result = CliRunner().invoke(MAIN[command], ["--help"], prog_name=command)
    assert result.exit_code == 0 and result.stdout.startswith(f"Usage: {command}"), result.output
    for opt in option_names(command) - {"-h"}:
        assert opt in result.stdout, opt


def test_corpus_holds_every_class(corpus):
    classes = {bad.klass for bad in corpus.bad.values()}
    assert classes <= set(FILE_CLASSES)
    assert classes >= {"NaN/inf in an array", "coordinates far outside the cell", "one frame", "truncated NetCDF",
                       "bit-flipped NetCDF", "truncated text", "flipped digit (2e20)", "atom count changes",
                       "degenerate cell", "empty trajectory", "non-water molecules", "mismatched topology",
                       "unknown species", "CRLF / UTF-16 text", "paths with spaces / non-ASCII",
                       "hostile model file", "overlapping atoms"}


# ------------------------------------------------------------------------------ tests: controls

CONTROL_IDS = [(name, k) for name in FUZZED for k in range(len(TABLE[name].modes)) if not TABLE[name].slow]


@pytest.mark.parametrize("command,mode", CONTROL_IDS, ids=[f"{c}-{k}" for c, k in CONTROL_IDS])
def test_valid_inputs_pass(corpus, scratch, command, mode):
    """Valid inputs, under plain names and under paths with spaces and non-ASCII letters."""
    run_all(corpus, scratch, command, [f"valid:{mode}", f"odd:{mode}"])


# ------------------------------------------------------------------------------ tests: the corpus

FILE_CLASSES = ["NaN/inf in an array", "coordinates far outside the cell", "flipped digit (2e20)", "one frame",
                "atom count changes", "degenerate cell", "empty trajectory", "not a trajectory",
                "non-water molecules", "unknown species", "CRLF / UTF-16 text", "truncated text",
                "truncated NetCDF", "bit-flipped NetCDF", "paths with spaces / non-ASCII",
                "mismatched topology", "hostile model file", "missing labels", "malformed text",
                "overlapping atoms", "not an eqt result", "result of another type", "incomplete result"]


@pytest.mark.parametrize("command", FUZZED)
def test_corpus_files(corpus, scratch, command):
    """Every corpus file the command takes, class by class."""
    names = [name for klass in FILE_CLASSES for name in file_cases(corpus, command, klass)]
    assert names
    run_all(corpus, scratch, command, names)


# ------------------------------------------------------------------------------ tests: options

def option_values(param):
    """Bad values for a click option, from its type: [[value, ...] per case]."""
    out = []
    types = list(param.type.types) if isinstance(param.type, click.Tuple) else [param.type] * param.nargs
    for slot, typ in enumerate(types):
        good = [_good_value(t) for t in types]

        def with_value(v, slot=slot, good=good):
            values = list(good)
            values[slot] = v
            return values

        if isinstance(typ, click.types.FloatParamType):
            for v in ("nan", "inf", "-inf", "1e400", "-1e400", "NaN", "+Infinity", "abc", "", "1e", "0x10"):
                out.append(with_value(v))
            if getattr(typ, "min", None) is not None:
                out.append(with_value(repr(typ.min - 1)))
                if typ.min_open:
                    out.append(with_value(repr(float(typ.min))))
            if getattr(typ, "max", None) is not None:
                out.append(with_value(repr(typ.max + 1)))
                if typ.max_open:
                    out.append(with_value(repr(float(typ.max))))
        elif isinstance(typ, click.types.IntParamType):
            for v in ("x", "1.5", "", "nan", "1e3"):
                out.append(with_value(v))
            if getattr(typ, "min", None) is not None:
                out.append(with_value(str(typ.min - 1)))
            if getattr(typ, "max", None) is not None:
                out.append(with_value(str(typ.max + 1)))
        elif isinstance(typ, click.Choice):
            out.append(with_value("bogus"))
            out.append(with_value(""))
        elif isinstance(typ, click.Path):
            out.append(with_value("{missing}"))
            out.append(with_value("{bad:folder.nc}"))
    return out


def _good_value(typ):
    if isinstance(typ, click.types.IntParamType):
        return str(max(getattr(typ, "min", None) or 0, 2) if getattr(typ, "min", None) is not None else 2)
    return "1"


def option_cases(command):
    cases = []
    for param in MAIN[command].params:
        if not isinstance(param, click.Option) or param.is_flag or param.count:
            continue
        flag = max(param.opts, key=len)
        if flag in ("--output", "--dat", "--plot"):
            continue  # output paths: tests/test_outputs.py
        mode = 1 if (command, flag) in HUGE_INT_MODE1 or (command == "eqt-rotvar" and flag in ("--skip", "--atoms", "--columns")) else 0
        for values in option_values(param):
            cases.append(f"opt:{mode}:" + json.dumps([flag, *values]))
        is_int = isinstance(param.type, click.types.IntParamType) or (
            isinstance(param.type, click.Tuple) and isinstance(param.type.types[0], click.types.IntParamType))
        if is_int and flag in HUGE_INT_BAD:
            cases.append(f"opt:{mode}:" + json.dumps([flag, *[str(10**30)] * param.nargs]))
    for args in BAD_TEXT.get(command, []):
        cases.append("text:0:" + json.dumps(args))
    for args in BAD_TEXT_MODE1.get(command, []):
        cases.append("text:1:" + json.dumps(args))
    for args in MEMORY_BOMBS.get(command, []):
        cases.append("bomb:0:" + json.dumps(args))
    return cases


@pytest.mark.parametrize("command", FUZZED)
def test_bad_option_values(corpus, scratch, command):
    """Every option's bad values (from its click type), bad text values and memory bombs."""
    run_all(corpus, scratch, command, option_cases(command))


# ------------------------------------------------------------------------------ tests: hypothesis

FUZZ = dict(derandomize=True, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck), print_blob=False)


def _hypothesis(corpus, scratch, command, strategy, examples):
    """Run `examples` cases whose names hypothesis draws from `strategy`."""
    @settings(max_examples=examples, **FUZZ)
    @given(strategy)
    def inner(name):
        run_named(corpus, scratch, command, name)

    inner()


def numeric_options(command):
    """(flag, nargs, is_int, min, max) of the options whose click type is numeric."""
    out = []
    for param in MAIN[command].params:
        if not isinstance(param, click.Option) or param.is_flag:
            continue
        types = list(param.type.types) if isinstance(param.type, click.Tuple) else [param.type]
        typ = types[0]
        if isinstance(typ, (click.types.FloatParamType, click.types.IntParamType)):
            out.append((max(param.opts, key=len), param.nargs, isinstance(typ, click.types.IntParamType),
                        getattr(typ, "min", None), getattr(typ, "max", None)))
    return out


@pytest.mark.parametrize("command", FUZZED)
def test_drawn_option_values(corpus, scratch, command):
    """Values drawn by hypothesis for every numeric option: spellings of NaN and infinity,
    numbers beyond the type's range, text; all refused before any work."""
    options = numeric_options(command)
    if not options:
        pytest.skip(f"{command} has no numeric option")
    spellings = st.sampled_from(["nan", "NaN", "-nan", "+nan", "inf", "-inf", "+Inf", "INFINITY", "-Infinity",
                                 "1e309", "-1e309", "1" + "0" * 400])

    @st.composite
    def case(draw):
        flag, nargs, is_int, lo, hi = draw(st.sampled_from(options))
        bad = [draw(st.text("abcdefxyz_-+.,:;/ ", min_size=0, max_size=8)  # a leading "-" reads as an option
                    .filter(lambda t: not _numeric(t) and not t.startswith("-")))]
        if not is_int:
            bad.append(draw(spellings))
        else:
            bad.append(str(draw(st.floats(0.5, 1e6).filter(lambda x: x != int(x)))))
        if lo is not None:
            bad.append(str(draw(st.integers(-10**40, int(math.floor(lo)) - 1))) if is_int
                       else repr(draw(st.floats(-1e300, lo, exclude_max=True))))
        if hi is not None:
            bad.append(str(draw(st.integers(int(hi) + 1, 10**40))) if is_int
                       else repr(draw(st.floats(hi, 1e300, exclude_min=True))))
        value = draw(st.sampled_from(bad))
        slot = draw(st.integers(0, nargs - 1))
        values = ["2"] * nargs
        values[slot] = value
        mode = 1 if command == "eqt-rotvar" and flag in ("--skip", "--atoms") else 0
        return f"opt:{mode}:" + json.dumps([flag, *values])

    _hypothesis(corpus, scratch, command, case(), 15)


def _numeric(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


NC_COMMANDS = commands_taking("traj")


@pytest.mark.parametrize("command", NC_COMMANDS)
def test_truncated_netcdf(corpus, scratch, command):
    size = corpus.nc_layout["size"]
    _hypothesis(corpus, scratch, command, st.integers(0, size - 1).map(lambda n: f"nc-cut:{n}"), 25)


@pytest.mark.parametrize("command", NC_COMMANDS)
def test_bit_flipped_netcdf(corpus, scratch, command):
    """1 to 3 flipped bits anywhere (header or data): refused, or a valid result."""
    size = corpus.nc_layout["size"]
    flip = st.tuples(st.integers(0, size - 1), st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]))
    names = st.lists(flip, min_size=1, max_size=3).map(
        lambda flips: "nc-flip:" + ":".join(f"{o}^{m}" for o, m in flips))
    _hypothesis(corpus, scratch, command, names, 25)


@pytest.mark.parametrize("command", NC_COMMANDS)
def test_netcdf_values(corpus, scratch, command):
    """NaN, inf or a huge number written into one element of an array of the .nc file."""
    n_frames, n_atoms = corpusmod.N_FRAMES, 3 * corpusmod.N_MOL
    sizes = {"positions": 3 * n_atoms, "velocities": 3 * n_atoms, "forces": 3 * n_atoms, "cell": 9,
             "energy": 1, "conserved": 1, "time": 1}

    @st.composite
    def slot(draw):
        array = draw(st.sampled_from(sorted(sizes)))
        values = ["nan", "inf", "-inf"] + (["2e20", "-3e25"] if array in ("positions", "velocities", "cell") else [])
        return (f"nc-slot:{array}:{draw(st.integers(0, n_frames - 1))}:{draw(st.integers(0, sizes[array] - 1))}:"
                f"{draw(st.sampled_from(values))}")

    _hypothesis(corpus, scratch, command, slot(), 30)


XYZ_COMMANDS = commands_taking("traj")


@pytest.mark.parametrize("command", XYZ_COMMANDS)
def test_truncated_xyz(corpus, scratch, command):
    text = corpus.nc_layout["xyz"]
    starts = corpusmod.frame_starts(text)
    # half the cuts anywhere, half at or next to frame boundaries (where a cut can look complete)
    near = st.sampled_from(starts[1:-1]).flatmap(lambda s: st.integers(s - 2, s + 2))
    _hypothesis(corpus, scratch, command, st.one_of(st.integers(0, len(text) - 1), near).map(lambda n: f"xyz-cut:{n}"), 20)


@pytest.mark.parametrize("command", XYZ_COMMANDS)
def test_xyz_values(corpus, scratch, command):
    """One number of an extxyz file replaced: NaN/inf, 2e20 in positions or momenta, text."""
    n_frames, n_atoms = corpusmod.N_FRAMES, 3 * corpusmod.N_MOL
    frame, atom = st.integers(0, n_frames - 1), st.integers(0, n_atoms - 1)
    token = st.tuples(frame, atom, st.integers(1, 9), st.sampled_from(["nan", "inf", "-inf", "NaN", "abc", "1.2.3", "--1", "0x1p3"])).map(
        lambda t: "xyz-token:" + ":".join(str(x) for x in t))
    huge = st.tuples(frame, atom, st.integers(1, 6), st.sampled_from(["2e20", "-2e20", "1e300"])).map(
        lambda t: "xyz-token:" + ":".join(str(x) for x in t))
    comment = st.one_of(
        st.tuples(frame, st.sampled_from(["energy", "time", "conserved_energy"]), st.sampled_from(["nan", "inf", "-inf"])).map(
            lambda t: f"xyz-comment:{t[0]}:{t[1]}:{t[2]}"),
        st.tuples(frame, st.sampled_from(["nan", "inf", "2e20"]), st.integers(0, 8)).map(
            lambda t: f"xyz-comment:{t[0]}:Lattice:{t[1]}:{t[2]}"))
    _hypothesis(corpus, scratch, command, st.one_of(token, huge, comment), 25)


@pytest.mark.parametrize("command", commands_taking("series"))
def test_property_file_mutations(corpus, scratch, command):
    text = corpus.nc_layout["props_text"]
    cut = st.integers(0, len(text) - 1).map(lambda n: f"props-cut:{n}")
    token = st.tuples(st.integers(0, 39), st.integers(1, 8), st.sampled_from(["nan", "inf", "-inf", "abc", "1e"])).map(
        lambda t: "props-token:" + ":".join(str(x) for x in t))
    _hypothesis(corpus, scratch, command, st.one_of(cut, token), 25)


def test_model_file_mutations(corpus, scratch):
    """eqt-eval on cut and bit-flipped copies of the example model (flips may leave a loadable
    model: then a valid result). eqt-eval is the cheapest model command; the others load the
    model through the same code (eqt_model.modelfile)."""
    size = len(corpus.nc_layout["model_bytes"])
    cut = st.integers(0, size - 1).map(lambda n: f"model-cut:{n}")
    flip = st.tuples(st.integers(0, size - 1), st.sampled_from([1, 4, 16, 64, 128])).map(lambda t: f"model-flip:{t[0]}^{t[1]}")
    _hypothesis(corpus, scratch, "eqt-eval", st.one_of(cut, flip), 30)


def test_labelled_structure_mutations(corpus, scratch):
    frames = corpusmod.xyz_frames(corpus.nc_layout["data_text"])
    names = st.tuples(st.integers(0, len(frames) - 1), st.integers(0, 5), st.integers(1, 6),
                      st.sampled_from(["nan", "inf", "-inf", "abc", "2e20"])).map(
        lambda t: "data-token:" + ":".join(str(x) for x in t))
    _hypothesis(corpus, scratch, "eqt-eval", names, 20)


@pytest.mark.parametrize("command", commands_taking("structure"))
def test_structure_mutations(corpus, scratch, command):
    """One-frame structures (eqt-md, eqt-driver read one frame): cut anywhere, or one number
    replaced (NaN/inf/text in positions, momenta, forces; 2e20 in positions or momenta); refused."""
    nc_size, xyz_size = (len(corpus.valid[key].read_bytes()) for key in ("one.nc", "one.xyz"))
    atom = st.integers(0, 3 * corpusmod.N_MOL - 1)
    token = st.one_of(
        st.tuples(atom, st.integers(1, 9), st.sampled_from(["nan", "inf", "-inf", "abc", "1.2.3"])),
        st.tuples(atom, st.integers(1, 6), st.sampled_from(["2e20", "-1e300"]))).map(
        lambda t: "one-xyz-token:" + ":".join(str(x) for x in t))
    cut = st.one_of(st.integers(0, nc_size - 1).map(lambda n: f"one-nc-cut:{n}"),
                    st.integers(0, xyz_size - 1).map(lambda n: f"one-xyz-cut:{n}"))
    _hypothesis(corpus, scratch, command, st.one_of(token, cut), 25)


@pytest.mark.parametrize("command", commands_taking("result"))
def test_result_mutations(corpus, scratch, command):
    """Analysis results (eqt-compare, eqt-plot) cut anywhere (refused) or with 1 to 3 flipped bits
    (refused, or a valid output)."""
    size = len(corpus.valid["rdf.nc"].read_bytes())
    cut = st.integers(0, size - 1).map(lambda n: f"result-cut:{n}")
    flips = st.lists(st.tuples(st.integers(0, size - 1), st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128])),
                     min_size=1, max_size=3).map(lambda fl: "result-flip:" + ":".join(f"{o}^{m}" for o, m in fl))
    _hypothesis(corpus, scratch, command, st.one_of(cut, flips), 30)


# ------------------------------------------------------------------------------ known failures

@pytest.mark.parametrize("entry", [pytest.param(k, id=f"{k.commands[0]}-{k.example}",
                                                marks=pytest.mark.xfail(strict=False, reason=k.reason))
                                   for k in KNOWN_FAILURES] or [None])
def test_known_failure(corpus, scratch, entry):
    if entry is None:
        pytest.skip("no known failures")
    case = build_case(corpus, entry.commands[0], entry.example)
    if case.expect == "fail-or-ok" and TABLE[case.command].modes[case.mode].output:
        reference(corpus, case.command, case.mode, scratch)
    run_case(corpus, case, scratch)
