"""Serving an ASE calculator to an i-PI-protocol server (i-PI, LAMMPS `fix ipi`, ASE's
SocketIOCalculator/SocketServer) as a client, through ASE's own SocketClient (the protocol is
ASE's; nothing here speaks it).

    parse_address("localhost:31415") -> ("localhost", 31415)
    connect(host, port) or connect(unixsocket=NAME) -> SocketClient (retried until `timeout`)
    serve(client, atoms) -> yields 1, 2, ... after each step computed, until the server ends

The protocol sends only the cell and positions (Bohr; ASE converts to Å and back, energies
and forces in Hartree units on the wire): the atomic numbers and the periodicity come from
the template `atoms`, whose calculator does the work. A periodic template takes the cell the
server sends at every step; a non-periodic one ignores it. The virial sent is zero
(SocketClient with use_stress=False, as for any calculator without stress): the server's
pressure then lacks the potential part. Unix sockets follow i-PI's convention: NAME is the
file /tmp/ipi_NAME. Every failure that is the server's or the user's (no server, a bad
address, an atom count that does not match the template, a connection lost in the middle of
a message, a message the protocol does not know) is an InputError with one line.
"""
import socket
import time

import numpy as np
from ase import units
from ase.calculators.socketio import SocketClient, SocketClosed, actualunixsocketname

from eqt_analysis.errors import InputError

RETRY_S = 0.2  # pause between connection attempts


def parse_address(text):
    """(host, port) of 'HOST:PORT' (IPv4 address or host name; port 1-65535)."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port:
        raise InputError(f"--address must look like HOST:PORT (e.g. localhost:31415), got {text!r}")
    if ":" in host or host.startswith("["):
        raise InputError(f"--address {text!r}: IPv6 addresses are not supported (ASE's socket client "
                         "speaks IPv4); use an IPv4 address, a host name, or --unix")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InputError(f"--address {text!r}: the port must be a number from 1 to 65535")
    return host, int(port)


def unix_socket_path(name):
    """The file of i-PI's Unix socket NAME: /tmp/ipi_NAME."""
    if not name or "/" in name or "\0" in name:
        raise InputError(f"--unix takes a socket name, not a path (NAME connects to {actualunixsocketname('NAME')}), "
                         f"got {name!r}")
    return actualunixsocketname(name)


def describe(host=None, port=None, unixsocket=None):
    """'localhost:31415' or 'Unix socket /tmp/ipi_NAME', for messages."""
    return f"Unix socket {actualunixsocketname(unixsocket)}" if unixsocket is not None else f"{host}:{port}"


def _close_leaked_socket(err):
    """SocketClient opens its socket before connecting and drops it when connect fails; close it
    (it is a local of a frame of the traceback) rather than leave it to the garbage collector."""
    tb = err.__traceback__
    while tb is not None:
        sock = tb.tb_frame.f_locals.get("sock")
        if isinstance(sock, socket.socket):
            sock.close()
        tb = tb.tb_next


def connect(host="localhost", port=None, unixsocket=None, timeout=10.0):
    """A SocketClient connected to the server at host:port or at i-PI's Unix socket
    `unixsocket`, trying again every RETRY_S seconds for `timeout` seconds while there is no
    server yet (connection refused, no socket file, connect timed out). Once connected, the
    socket blocks without limit (servers may take long between steps)."""
    if unixsocket is not None:
        unix_socket_path(unixsocket)
    where = describe(host, port, unixsocket)
    deadline = time.monotonic() + timeout
    default = socket.getdefaulttimeout()
    while True:
        left = deadline - time.monotonic()
        try:
            # bounds connect() (at most a day per try: sockets take no longer); SocketClient then sets None
            socket.setdefaulttimeout(min(max(left, RETRY_S), 86400.0))
            return SocketClient(host=host, port=port, unixsocket=unixsocket, timeout=None)
        except socket.gaierror as err:
            _close_leaked_socket(err)
            raise InputError(f"cannot resolve the host of {where} ({err.strerror})") from None
        except (ConnectionRefusedError, FileNotFoundError, TimeoutError) as err:
            _close_leaked_socket(err)
            if time.monotonic() + RETRY_S > deadline:
                why = "no such socket file" if isinstance(err, FileNotFoundError) else \
                    "connection timed out" if isinstance(err, TimeoutError) else "connection refused"
                raise InputError(f"cannot connect to {where}: {why} after {timeout:g} s "
                                 "(is the server running and listening there? see --timeout)") from None
        except OSError as err:
            _close_leaked_socket(err)
            raise InputError(f"cannot connect to {where} ({err.strerror or err})") from None
        finally:
            socket.setdefaulttimeout(default)
        time.sleep(RETRY_S)


def serve(client, atoms):
    """Answer the server with atoms.calc until it sends EXIT or closes the connection between
    messages; yields the number of steps computed so far after each one. The server must send
    as many atoms as `atoms` has (InputError otherwise, before any work). The client's socket
    is closed when the generator ends, normally or not."""
    n_atoms = len(atoms)
    protocol = client.protocol

    def checked():  # ASE's IPIProtocol.recvposdata, with the atom count checked before the positions are read
        cell = protocol.recv((3, 3), np.float64).T.copy()
        icell = protocol.recv((3, 3), np.float64).T.copy()
        sent = int(protocol.recv(1, np.int32)[0])
        if sent != n_atoms:
            raise InputError(f"the server sent {sent} atoms; the structure file has {n_atoms} "
                             "(the server and STRUCTURE must describe the same system)")
        positions = protocol.recv((n_atoms, 3), np.float64)
        return cell * units.Bohr, icell / units.Bohr, positions * units.Bohr

    client.protocol.recvposdata = checked
    steps = 0
    try:
        for _ in client.irun(atoms, use_stress=False):
            steps += 1
            yield steps
    except InputError as err:
        raise InputError(f"step {steps + 1}: {err}") from None
    except SocketClosed:
        raise InputError(f"step {steps + 1}: the server closed the connection in the middle of a message") from None
    except (BrokenPipeError, ConnectionResetError):
        raise InputError(f"step {steps + 1}: the server closed the connection before taking the forces") from None
    except (AssertionError, KeyError, UnicodeDecodeError) as err:  # ASE's checks of what it receives
        detail = " ".join(str(a) for a in getattr(err, "args", ())) or "a message out of order or non-finite numbers"
        raise InputError(f"step {steps + 1}: i-PI protocol error from the server ({detail})") from None
    finally:
        client.close()
