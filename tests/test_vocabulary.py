"""One option vocabulary across every console script declared in setup.cfg (read from the
installed entry points, so a command added later is checked too)."""
import configparser
import importlib.metadata
from pathlib import Path

import click
import pytest

SETUP = Path(__file__).resolve().parents[1] / "setup.cfg"
# commands whose output is not a file named by -o: eqt-convert names it as an argument (like cp),
# eqt-info only prints, eqt-driver answers a server over a socket and writes no file
NO_OUTPUT_OPTION = {"eqt-convert", "eqt-info", "eqt-driver"}
TRAJECTORY_COMMANDS = {"eqt-convert", "eqt-rdf", "eqt-orient", "eqt-msd", "eqt-rotcorr", "eqt-vdos",
                       "eqt-tcf", "eqt-angmom"}
# one meaning per name: the option name -> what its help must say
MEANINGS = {"--block-frames": "frames per block", "--blocks": "number of blocks",
            "--format": "input format", "--json": "json"}


def commands():
    declared = configparser.ConfigParser()
    declared.read(SETUP)
    names = {line.split("=")[0].strip() for line in
             declared["options.entry_points"]["console_scripts"].strip().splitlines()}
    found = {ep.name: ep for ep in importlib.metadata.entry_points(group="console_scripts")
             if ep.value.startswith("eqt_cli.")}
    assert set(found) == names, "setup.cfg and the installed entry points differ: reinstall (pip install -e .)"
    return {name: ep.load() for name, ep in sorted(found.items())}


COMMANDS = commands()


def options(cmd):
    return {opt: p for p in cmd.params if isinstance(p, click.Option) for opt in p.opts + p.secondary_opts}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_and_the_shared_names(name):
    cmd = COMMANDS[name]
    opts = options(cmd)
    missing_help = sorted(p.name for p in cmd.params if isinstance(p, click.Option) and not p.help)
    assert not missing_help, f"{name}: options without help: {missing_help}"
    assert cmd.help and "Example" in cmd.help, f"{name}: --help needs an example line"
    assert {"-h", "--help"} <= set(cmd.get_help_option_names(click.Context(cmd, **cmd.context_settings))), name
    assert "-q" in opts and opts["-q"] is opts["--quiet"], f"{name}: no -q/--quiet"
    if name not in NO_OUTPUT_OPTION:
        assert "-o" in opts and opts["-o"] is opts["--output"], f"{name}: no -o/--output"
    if name in TRAJECTORY_COMMANDS:
        for opt in ("--start", "--stop", "--stride"):
            assert opt in opts, f"{name}: no {opt}"
    for opt, meaning in MEANINGS.items():
        if opt in opts:
            assert meaning in opts[opt].help.lower(), f"{name} {opt}: help must say '{meaning}'"
    assert "--block" not in opts, f"{name}: --block is ambiguous; use --block-frames or --blocks"
    if "-f" in opts:
        assert opts["-f"] is opts["--format"], f"{name}: -f must be the input format"
