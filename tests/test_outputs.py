"""Output rules (cli/outputs.py): nothing eqt writes may destroy an input, a device or a pipe.

Every special file here is made in a temporary folder (FIFOs, a device node, sockets,
symlinks, hard links), never a real system device, so a failing test cannot damage the machine.
"""
import hashlib
import os
import shutil
import socket
import stat
import threading
from pathlib import Path

import pytest
import xarray as xr
from click.testing import CliRunner

from eqt_cli import convert, outputs, rdf

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data" / "water64_tip3p.nc"
FAST = ["--stop", "3", "--pairs", "O-O", "--bins", "20", "--rmax", "5", "-q"]


def run(cmd, *args):
    return CliRunner().invoke(cmd.main, [str(a) for a in args])


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def refused(result, *words):
    """Exit 2, one line `Error: ...` naming the problem, no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def traj(tmp_path):
    path = tmp_path / "traj.nc"
    shutil.copy(EXAMPLE, path)
    return path


def test_output_equal_to_input_is_refused_through_any_alias(traj, tmp_path):
    before = digest(traj)
    os.symlink(traj, tmp_path / "alias.nc")
    os.link(traj, tmp_path / "hard.nc")
    for out in (traj, tmp_path / "alias.nc", tmp_path / "hard.nc", tmp_path / "sub" / ".." / "traj.nc"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        refused(run(rdf, traj, "-o", out, *FAST), "overwrite the input")
        refused(run(convert, traj, out, "-q"), "overwrite the input")
    refused(run(rdf, traj, "--plot", traj, *FAST), "overwrite the input")
    assert digest(traj) == before and os.path.islink(tmp_path / "alias.nc")


def test_two_outputs_on_one_file_are_refused(traj, tmp_path):
    refused(run(rdf, traj, "-o", tmp_path / "a.nc", "--dat", tmp_path / "a.nc", *FAST), "same file")
    assert not (tmp_path / "a.nc").exists()


def test_standard_output_under_another_name_is_one_output(traj, tmp_path, monkeypatch):
    """'-' and a path to what stdout is (/dev/stdout, /proc/self/fd/N, the file it is redirected to)
    are one output: the second would replace or interleave the first. Stdout redirected into an
    input is refused like any output on an input; outputs may share /dev/null."""
    shown = tmp_path / "shown.bin"
    with open(shown, "wb") as stdout:
        monkeypatch.setattr("sys.stdout", stdout)
        for alias in (f"/proc/self/fd/{stdout.fileno()}", str(shown)):
            with pytest.raises(outputs.InputError, match="--dat and -o both write to standard output"):
                outputs.claim({"-o": "-", "--dat": alias}, [str(traj)])
        with open(traj, "ab") as appended:
            monkeypatch.setattr("sys.stdout", appended)
            with pytest.raises(outputs.InputError, match="-o would overwrite the input"):
                outputs.claim({"-o": "-"}, [str(traj)])
    assert outputs.claim({"-o": os.devnull, "--dat": os.devnull}, [str(traj)])["--dat"].kind == "stream"


def test_netcdf_under_another_formats_name_is_refused(traj, tmp_path):
    """A NetCDF result named out.xyz or out.pdb would be read back (by eqt too) as that format."""
    for name in ("out.xyz", "out.extxyz", "out.pdb", "out.dcd"):
        refused(run(rdf, traj, "-o", tmp_path / name, *FAST), "this output is NetCDF: give a .nc name")
    assert sorted(os.listdir(tmp_path)) == ["traj.nc"]


def test_default_names_never_replace_another_inputs_result(traj, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for name in ("a/run.nc", "b/run.nc", "run.1.nc", "run.2.nc"):
        shutil.copy(traj, tmp_path / name)
    assert run(rdf, "run.1.nc", *FAST).exit_code == 0
    assert run(rdf, "run.2.nc", *FAST).exit_code == 0
    assert (tmp_path / "run.1.rdf.nc").exists() and (tmp_path / "run.2.rdf.nc").exists()
    assert run(rdf, "a/run.nc", *FAST).exit_code == 0
    first = digest("run.rdf.nc")
    refused(run(rdf, "b/run.nc", *FAST), "run.rdf.nc", "-o")
    assert digest("run.rdf.nc") == first
    assert run(rdf, "a/run.nc", *FAST, "--bins", "30").exit_code == 0  # a rerun replaces its own result
    assert xr.open_dataset("run.rdf.nc").sizes["r"] == 30
    Path("c.rdf.nc").write_text("my notes")  # a file that is not eqt's result under a default name
    shutil.copy(traj, "c.nc")
    refused(run(rdf, "c.nc", *FAST), "c.rdf.nc")
    assert Path("c.rdf.nc").read_text() == "my notes"
    assert run(rdf, "c.nc", *FAST, "-o", "c.rdf.nc").exit_code == 0  # -o says: replace it


def test_symlink_output_replaces_its_target_and_keeps_the_link(traj, tmp_path):
    target = tmp_path / "real.nc"
    target.write_text("old")
    os.symlink(target, tmp_path / "link.nc")
    assert run(rdf, traj, "-o", tmp_path / "link.nc", *FAST).exit_code == 0
    assert os.path.islink(tmp_path / "link.nc")
    assert "g" in xr.open_dataset(target)


def test_fifo_output_is_streamed_not_replaced(traj, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(Path(fifo).read_bytes()))
    reader.start()
    result = run(rdf, traj, "-o", fifo, *FAST)
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    (tmp_path / "got.nc").write_bytes(received[0])
    assert "g" in xr.open_dataset(tmp_path / "got.nc")


def test_character_device_output_is_written_through_never_replaced(traj, tmp_path):
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    except PermissionError:
        pytest.skip("making a device node needs root")
    result = run(rdf, traj, "-o", node, *FAST)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat(node).st_mode)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".eqt-")]


@pytest.mark.parametrize("make", ["dir", "dir/", "missing-folder", "socket"])
def test_unusable_outputs_are_refused_before_reading(traj, tmp_path, make):
    broken = tmp_path / "broken.nc"
    broken.write_bytes(b"CDF\x02" + b"\0" * 10)  # would fail on reading: the output must fail first
    (tmp_path / "d").mkdir()
    out = {"dir": str(tmp_path / "d"), "dir/": str(tmp_path / "new") + "/",
           "missing-folder": str(tmp_path / "nowhere" / "x.nc"), "socket": str(tmp_path / "s.sock")}[make]
    if make == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(out)
    result = run(rdf, broken, "-o", out, *FAST)
    refused(result)
    assert "broken.nc" not in result.stderr  # the output was checked first
    assert os.listdir(tmp_path / "d") == []


def test_unwritable_folder_is_refused(traj, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write into any folder")
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    refused(run(rdf, traj, "-o", folder / "x.nc", *FAST), "not writable")


def test_plot_and_table_only_with_the_main_output(traj, tmp_path):
    (tmp_path / "d").mkdir()
    result = run(rdf, traj, "-o", tmp_path / "r.nc", "--dat", tmp_path / "r.dat", "--plot", tmp_path / "d", *FAST)
    refused(result, "directory")
    assert not (tmp_path / "r.nc").exists() and not (tmp_path / "r.dat").exists()


def test_stale_temporaries_of_dead_processes_are_removed(traj, tmp_path):
    dead = tmp_path / f"{outputs.TEMP_PREFIX}{outputs._HOST}-999999999-abc.nc"
    alive = tmp_path / f"{outputs.TEMP_PREFIX}{outputs._HOST}-{os.getpid()}-abc.nc"
    other_host = tmp_path / f"{outputs.TEMP_PREFIX}elsewhere-999999999-abc.nc"
    for p in (dead, alive, other_host):
        p.write_bytes(b"partial")
    assert run(rdf, traj, "-o", tmp_path / "r.nc", *FAST).exit_code == 0
    assert not dead.exists() and alive.exists() and other_host.exists()


def test_checkpoints_are_written_through_removable_temporaries(tmp_path):
    """save_npz (eqt-md's and eqt-opt's checkpoints) names its temporary file as atomic_output does: a
    temporary left by a killed process (a dead pid) is removed at the next save; the checkpoint reads back."""
    import numpy as np

    dead = tmp_path / f"{outputs.TEMP_PREFIX}{outputs._HOST}-999999999-abc.npz"
    dead.write_bytes(b"partial")
    outputs.save_npz({"x": np.arange(3)}, str(tmp_path / "run.nc.ckpt"))
    assert sorted(os.listdir(tmp_path)) == ["run.nc.ckpt"]
    assert list(outputs.load_npz(str(tmp_path / "run.nc.ckpt"))["x"]) == [0, 1, 2]


def test_a_failed_run_leaves_no_file(traj, tmp_path):
    out = tmp_path / "r.nc"
    refused(run(rdf, traj, "-o", out, *FAST, "--pairs", "O-Xx"))
    assert os.listdir(tmp_path) == ["traj.nc"]


def test_existing_file_keeps_its_mode(traj, tmp_path):
    out = tmp_path / "r.nc"
    out.write_text("old")
    os.chmod(out, 0o640)
    assert run(rdf, traj, "-o", out, *FAST).exit_code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640


@pytest.mark.parametrize("failure", ["ENOSPC", "NetCDF library"])
def test_a_full_disk_is_one_line_and_keeps_the_old_output(tmp_path, monkeypatch, failure):
    """A full disk gave a traceback (the NetCDF library says "HDF error"); now one line, exit 1, the old file kept."""
    import errno

    out = tmp_path / "r.nc"
    out.write_text("the previous result")
    if failure == "ENOSPC":
        def full(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(outputs, "_fsync", full)
    else:
        def hdf_error(self, *args, **kwargs):
            raise RuntimeError("NetCDF: HDF error")
        monkeypatch.setattr(xr.Dataset, "to_netcdf", hdf_error)
        monkeypatch.setattr(outputs, "_nearly_full", lambda folder, margin=0: True)
    result = run(rdf, EXAMPLE, "-o", out, *FAST)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [f"Error: {out}: No space left on device; no output written"]
    assert out.read_text() == "the previous result" and os.listdir(tmp_path) == ["r.nc"]


def test_a_full_disk_stops_md_where_restart_continues(tmp_path, monkeypatch):
    from ase.build import molecule

    from eqt_cli import md

    ase_io = pytest.importorskip("ase.io")
    ase_io.write(tmp_path / "w.xyz", molecule("H2O"))
    saves = []

    def save_twice(data, path):
        if len(saves) == 2:
            raise OSError(28, "No space left on device")
        saves.append(path)
        outputs.save_npz(data, path)
    monkeypatch.setattr(md, "save_npz", save_twice)
    model = Path(__file__).resolve().parents[1] / "example_data" / "model-small.pkl"
    args = [str(model), str(tmp_path / "w.xyz"), "--steps", "6", "--stride", "2", "-q", "-o", str(tmp_path / "m.nc")]
    result = CliRunner().invoke(md.main, args)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines()[-1].endswith(
        "hold the run up to step 2 (free space, then continue it with --restart)")
    monkeypatch.undo()
    assert CliRunner().invoke(md.main, args + ["--restart"]).exit_code == 0
    assert xr.open_dataset(tmp_path / "m.nc")["step"].values.tolist() == [0, 2, 4, 6]
