"""Crash safety with real processes: kill -9, SIGTERM, SIGHUP and SIGINT at random moments of
eqt-convert and of a long analysis (eqt-rdf). The output name must hold nothing or a complete
result equal to an uninterrupted run's; a caught signal leaves no temporary file and ends with
one line; a kill -9's temporary file is removed by the next eqt command writing to that folder.
"""
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from eqt_analysis import io, trajectory

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data" / "water64_tip3p.nc"
BIN = Path(sys.executable).parent
SIGNALS = [signal.SIGKILL] * 6 + [signal.SIGTERM] * 4 + [signal.SIGHUP, signal.SIGINT]  # per job
JOBS = {
    "convert": ["eqt-convert", "../long.xyz", "out.nc", "-q"],
    "rdf": ["eqt-rdf", "../long.nc", "--dipole", "-o", "out.nc", "-q"],
}


def command(args):
    return [str(BIN / args[0])] + args[1:]


def start(args, folder):
    """Start an eqt command in `folder`; return it once it has opened its input (work begun)."""
    proc = subprocess.Popen(command(args), cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wanted = os.path.realpath(folder / args[1])
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        try:
            fds = os.listdir(f"/proc/{proc.pid}/fd")
            if any(os.path.realpath(f"/proc/{proc.pid}/fd/{fd}") == wanted for fd in fds):
                break
        except OSError:
            pass
        time.sleep(0.005)
    return proc


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with long.xyz / long.nc (the example run twice over, 800 frames) and the
    uninterrupted result and duration of each job."""
    root = tmp_path_factory.mktemp("kill")
    ds = io.open_trajectory(EXAMPLE).load()
    span = float(ds["time"].values[-1] - ds["time"].values[0]) + float(np.diff(ds["time"].values[:2])[0])
    copies = []
    for k in range(2):
        part = ds.assign_coords(time=ds["time"] + k * span)
        part["step"] = part["step"] + k * int(ds["step"].values[-1] + ds["step"].values[1] - ds["step"].values[0])
        copies.append(part)
    long = trajectory.concat(copies)
    for name, fmt in (("long.xyz", "extxyz"), ("long.nc", "netcdf")):
        with io.open_writer(str(root / name), fmt) as writer:
            for chunk in trajectory.iter_chunks(long, 400):
                writer.write(chunk)
    reference, duration = {}, {}
    for job, args in JOBS.items():
        folder = root / f"ref-{job}"
        folder.mkdir()
        proc = start(args, folder)
        t0 = time.perf_counter()
        assert proc.wait() == 0
        duration[job] = time.perf_counter() - t0  # from opening the input to the end
        reference[job] = folder / "out.nc"
    return root, reference, duration


def same_result(a, b):
    x, y = xr.open_dataset(a).load(), xr.open_dataset(b).load()
    for ds in (x, y):
        for key in ("history", "command"):
            ds.attrs.pop(key, None)
    xr.testing.assert_identical(x, y)


def kill_once(root, job, k, sig, delay):
    folder = root / f"{job}-{k}"
    folder.mkdir()
    proc = start(JOBS[job], folder)
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return folder, proc.returncode, err.decode()


def test_killed_runs_leave_nothing_or_a_complete_result(work):
    root, reference, duration = work
    rng = np.random.default_rng(7)
    cases = [(job, k, sig, float(rng.uniform(0, 1.1 * duration[job])))
             for job in JOBS for k, sig in enumerate(SIGNALS)]
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda c: (c, kill_once(root, *c)), cases))
    assert len(outcomes) >= 20
    finished = 0
    for (job, k, sig, delay), (folder, rc, err) in outcomes:
        out = folder / "out.nc"
        if out.exists():
            same_result(out, reference[job])
            finished += 1
        left = [p for p in os.listdir(folder) if p.startswith(".eqt-")]
        if sig == signal.SIGKILL:
            assert rc in (0, -signal.SIGKILL), (job, delay, rc, err)
        else:
            assert not left, (job, sig, delay, left)
            if rc == 128 + sig:  # the handler ran: one line says so
                assert err.strip().splitlines()[-1].startswith("Error: interrupted by"), err
                assert "Traceback" not in err, err
            else:  # finished first (0), or killed before the handler was installed (-sig)
                assert rc in (0, -sig), (job, sig, delay, rc, err)
    caught = sum(rc == 128 + sig for (_, _, sig, _), (_, rc, _) in outcomes)
    print(f"{len(outcomes)} kills: {finished} runs had finished, {caught} signals caught by eqt")
    assert finished < len(outcomes)  # most kills landed before the end


def test_next_command_removes_a_killed_runs_temporary_file(work):
    root, _, duration = work
    folder = root / "stale"
    folder.mkdir()
    proc = subprocess.Popen(command(["eqt-convert", str(root / "long.xyz"), "out.nc", "-q"]), cwd=folder)
    deadline = time.time() + 60
    while not [p for p in os.listdir(folder) if p.startswith(".eqt-")] and proc.poll() is None:
        assert time.time() < deadline
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    left = [p for p in os.listdir(folder) if p.startswith(".eqt-")]
    if not left:
        pytest.skip("the run finished before the kill")
    assert str(proc.pid) in left[0]
    subprocess.run(command(["eqt-rdf", str(EXAMPLE), "--stop", "2", "--pairs", "O-O", "-o", "x.nc", "-q"]),
                   cwd=folder, check=True, capture_output=True)
    assert sorted(os.listdir(folder)) == ["x.nc"]  # the dead process's temporary file is gone


def test_closed_stdout_is_refused_up_front(work):
    # the shell closes stdout (>&-) and execs eqt: no Python code runs in the forked child
    proc = subprocess.run(["bash", "-c", 'exec "$0" "$@" >&-',
                           *command(["eqt-rdf", str(EXAMPLE), "--stop", "2", "-o", "-", "-q"])],
                          stderr=subprocess.PIPE)
    err = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and "standard output is closed" in err[0], err


def test_reader_closing_the_pipe_gives_one_line(work):
    root, _, _ = work
    eqt = subprocess.Popen(command(["eqt-convert", str(root / "long.nc"), "-", "--to", "extxyz", "-q"]),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    eqt.stdout.read(100)
    eqt.stdout.close()
    err = eqt.stderr.read().decode()
    eqt.wait(timeout=60)
    assert eqt.returncode != 0 and "Traceback" not in err, err
