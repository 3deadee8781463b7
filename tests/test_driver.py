"""eqt-driver against ASE's i-PI-protocol server (SocketIOCalculator): the energies and forces
the server receives are the model's own, over Unix sockets and TCP, in process and as a real
separate process; bad inputs, a lost or confused server and SIGTERM end it with one line."""
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import ase
import ase.io
import numpy as np
import pytest
from ase.calculators.socketio import SocketIOCalculator, actualunixsocketname
from click.testing import CliRunner

from eqt_cli import driver

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "example_data" / "model-small.pkl"
BOX = REPO / "example_data" / "water64_tip3p.nc"


@pytest.fixture(scope="module", autouse=True)
def x64():
    """float64 inside this module only (the in-process driver turns it on; restored afterwards)."""
    import jax

    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def water():
    """One water molecule, not periodic."""
    return ase.Atoms("OH2", positions=[[0, 0, 0], [0.9572, 0, 0], [-0.2400, 0.9266, 0]])


def box():
    """Frame 0 of the 64-water TIP3P box: 192 atoms, periodic."""
    from eqt_analysis import io
    from eqt_analysis.io import xyz

    atoms = xyz.dataset_to_atoms(io.open_trajectory(BOX, stop=1).isel(frame=[0]).load())[0]
    atoms.calc = None
    return atoms


STRUCTURES = {"water": water, "box": box}


def socket_name():
    """A Unix socket name no other test or run uses."""
    return f"eqt-test-{os.getpid()}-{threading.get_ident()}-{np.random.default_rng().integers(1 << 30)}"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def steps(atoms, n=3):
    """n structures: atoms, then moved by random displacements (0.03 Å) one after the other."""
    rng = np.random.default_rng(7)
    out = [atoms.copy()]
    for _ in range(n - 1):
        out.append(out[-1].copy())
        out[-1].positions += rng.normal(scale=0.03, size=(len(atoms), 3))
    return out


def served(server, structures):
    """Energies and forces the server receives for each structure (same Atoms, moved)."""
    atoms = structures[0].copy()
    atoms.calc = server
    energies, forces = [], []
    for s in structures:
        atoms.positions[:] = s.positions
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    return np.array(energies), np.array(forces)


def direct(structures, average):
    """The same values from EQTCalculator in this process."""
    from eqt_model.calculator import EQTCalculator

    calc = EQTCalculator(MODEL, average=average)
    energies, forces = [], []
    for s in structures:
        a = s.copy()
        a.calc = calc
        energies.append(a.get_potential_energy())
        forces.append(a.get_forces())
    return np.array(energies), np.array(forces)


def start(args):
    """eqt-driver in a thread (click's CliRunner); the result lands in the returned dict."""
    out = {}

    def target():
        out["result"] = CliRunner().invoke(driver.main, [str(a) for a in args])

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def finished(thread, out, timeout=60):
    thread.join(timeout)
    assert not thread.is_alive(), "eqt-driver did not end"
    return out["result"]


def one_error_line(result):
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    assert lines[-1].startswith("Error: ") and not any(line.startswith("Error: ") for line in lines[:-1])
    return lines[-1]


@pytest.mark.parametrize("name, average", [("water", None), ("box", "i")])
def test_unix_socket_values_equal_the_model(tmp_path, name, average):
    atoms = STRUCTURES[name]()
    template = tmp_path / "template.xyz"
    ase.io.write(template, atoms)
    structures = steps(atoms)
    unix = socket_name()
    with SocketIOCalculator(unixsocket=unix, timeout=60) as server:
        thread, out = start([MODEL, template, "--unix", unix, "--float64", "-q"]
                            + (["--average", average] if average else []))
        energies, forces = served(server, structures)
    result = finished(thread, out)  # the server closed the connection: a normal end
    assert result.exit_code == 0, (result.output, result.exception)
    assert not result.stderr  # --quiet
    assert not os.path.exists(actualunixsocketname(unix))
    want_e, want_f = direct(structures, average)
    np.testing.assert_allclose(energies, want_e, rtol=0, atol=1e-6)
    np.testing.assert_allclose(forces, want_f, rtol=0, atol=1e-6)
    assert np.ptp(energies) > 1e-3  # the atoms did move between steps
    if atoms.pbc.any():  # the virial sent is zero (the model has no stress), as --help says
        np.testing.assert_array_equal(server.results["stress"], np.zeros(6))


def test_separate_process_over_tcp_until_exit(tmp_path):
    template = tmp_path / "water.xyz"
    ase.io.write(template, water())
    structures = steps(water())
    port = free_port()
    with SocketIOCalculator(port=port, timeout=120) as server:
        proc = subprocess.Popen([sys.executable, "-m", "eqt_cli.driver", str(MODEL), str(template),
                                 "--address", f"127.0.0.1:{port}", "--float64"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            energies, forces = served(server, structures)
            server.server.protocol.end()  # EXIT, as i-PI sends at the end of a run
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert not stdout
    assert stderr.strip().splitlines()[-1] == f"served 3 steps to 127.0.0.1:{port}"
    want_e, want_f = direct(structures, None)
    np.testing.assert_allclose(energies, want_e, rtol=0, atol=1e-6)
    np.testing.assert_allclose(forces, want_f, rtol=0, atol=1e-6)


def test_sigterm_while_waiting_for_the_server_ends_cleanly(tmp_path):
    template = tmp_path / "water.xyz"
    ase.io.write(template, water())
    unix = socket_name()
    path = actualunixsocketname(unix)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        try:
            listener.listen(1)
            listener.settimeout(60)
            proc = subprocess.Popen([sys.executable, "-m", "eqt_cli.driver", str(MODEL), str(template), "--unix", unix],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                conn, _ = listener.accept()  # connected: the driver now waits for the server's first message
                with conn:
                    conn.sendall(b"STATUS".ljust(12))
                    assert conn.recv(12).strip() == b"READY"  # serving: in the loop that waits for messages
                    proc.send_signal(signal.SIGTERM)
                    _, stderr = proc.communicate(timeout=30)
            finally:
                proc.kill()
        finally:
            os.unlink(path)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    lines = stderr.strip().splitlines()
    assert lines[-1] == "Error: interrupted by SIGTERM; no output written"
    assert lines[-2] == f"served 0 steps to Unix socket {path}"
    assert "Traceback" not in stderr


def test_atom_count_differing_from_the_structure_file(tmp_path):
    template = tmp_path / "water.xyz"
    ase.io.write(template, water())
    two = water() + water()
    two.positions[3:] += 5.0
    unix = socket_name()
    with SocketIOCalculator(unixsocket=unix, timeout=30) as server:
        thread, out = start([MODEL, template, "--unix", unix, "-q"])
        two.calc = server
        with pytest.raises(OSError):  # the driver hangs up
            two.get_potential_energy()
    line = one_error_line(finished(thread, out))
    assert line == "Error: step 1: the server sent 6 atoms; the structure file has 3 (the server and STRUCTURE " \
                   "must describe the same system)"


def _bad_server(unix, script):
    """A server that accepts the driver, sends `script` (bytes) and hangs up."""
    path = actualunixsocketname(unix)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(30)

    def run():
        try:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(script)
                conn.shutdown(socket.SHUT_WR)  # hang up (the driver still answers until it sees it)
                conn.settimeout(30)
                while conn.recv(4096):  # until the driver hangs up
                    pass
        finally:
            listener.close()
            os.unlink(path)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("script, message", [
    (b"HELLO".ljust(12), "Error: step 1: i-PI protocol error from the server (Bad message HELLO)"),
    (b"POSDATA".ljust(12) + np.eye(3).tobytes(), "Error: step 1: the server closed the connection in the middle of a "
                                                 "message"),
    # atom counts checked before the positions are allocated (a traceback, or 48 GiB asked, before)
    (b"POSDATA".ljust(12) + np.eye(3).tobytes() * 2 + np.int32(-1).tobytes(),
     "Error: step 1: the server sent -1 atoms; the structure file has 3"),
    (b"POSDATA".ljust(12) + np.eye(3).tobytes() * 2 + np.int32(2**31 - 1).tobytes(),
     "Error: step 1: the server sent 2147483647 atoms; the structure file has 3"),
])
def test_confused_or_vanishing_server(tmp_path, script, message):
    template = tmp_path / "water.xyz"
    ase.io.write(template, water())
    unix = socket_name()
    server = _bad_server(unix, script)
    result = CliRunner().invoke(driver.main, [str(MODEL), str(template), "--unix", unix, "-q"])
    server.join(30)
    assert one_error_line(result).startswith(message)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("driver")
    ase.io.write(folder / "water.xyz", water())
    ase.io.write(folder / "salt.xyz", ase.Atoms("NaCl", positions=[[0, 0, 0], [2.8, 0, 0]]))
    return folder


@pytest.mark.parametrize("args, message", [
    (["--address", "localhost"], "--address must look like HOST:PORT (e.g. localhost:31415), got 'localhost'"),
    (["--address", ":31415"], "--address must look like HOST:PORT"),
    (["--address", "localhost:http"], "the port must be a number from 1 to 65535"),
    (["--address", "localhost:70000"], "the port must be a number from 1 to 65535"),
    (["--address", "[::1]:31415"], "IPv6 addresses are not supported"),
    (["--address", "no-such-host.invalid:31415"], "cannot resolve the host of no-such-host.invalid:31415"),
    (["--unix", "/tmp/ipi_x"], "--unix takes a socket name, not a path"),
    ([], "give exactly one of --address HOST:PORT and --unix NAME"),
    (["--unix", "a", "--address", "localhost:31415"], "give exactly one of --address HOST:PORT and --unix NAME"),
    (["--unix", "a", "--average", "i", "--random-rotation"], "choose --average or --random-rotation, not both"),
    (["--unix", "eqt-test-nobody-listens", "--timeout", "0"],
     "cannot connect to Unix socket /tmp/ipi_eqt-test-nobody-listens: no such socket file after 0 s"),
    (["--address", "127.0.0.1:{port}", "--timeout", "0.5"], "cannot connect to 127.0.0.1:{port}: connection refused "
                                                            "after 0.5 s"),
    (["--address", "no-such-host.invalid:31415", "--timeout", "1e300"],  # no overflow (it was a traceback)
     "cannot resolve the host of no-such-host.invalid:31415"),
])
def test_bad_usage_and_no_server(inputs, args, message):
    port = free_port()
    args = [a.format(port=port) for a in args]
    result = CliRunner().invoke(driver.main, [str(MODEL), str(inputs / "water.xyz")] + args)
    assert message.format(port=port) in one_error_line(result)


@pytest.mark.parametrize("model, structure, message", [
    ("missing.pkl", "water.xyz", "missing.pkl: "),
    (MODEL, "missing.xyz", "missing.xyz: no such file"),
    (MODEL, "salt.xyz", "salt.xyz: species [11, 17] unknown to the model"),
    (MODEL, "-", "-: reading stdin needs --format"),
])
def test_bad_model_or_structure_before_connecting(inputs, model, structure, message):
    model = model if os.path.isabs(model) else inputs / model
    structure = structure if structure == "-" else inputs / structure
    result = CliRunner().invoke(driver.main, [str(model), str(structure), "--unix", "eqt-never-used"])
    assert message in one_error_line(result)


def test_help_states_the_zero_virial():
    result = CliRunner().invoke(driver.main, ["--help"])
    assert result.exit_code == 0
    assert "virial sent is zero" in result.output and "NPT" in result.output
