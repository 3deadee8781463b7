"""eqt-driver: an eqt model (plain, averaged or randomly rotated) served to i-PI or ASE over the
i-PI socket protocol."""
import sys

import click
from tqdm import tqdm

from eqt_analysis.errors import InputError

from .common import NON_NEGATIVE, command, eqt_command, format_option, model_options, read_chunks


def _template(path, fmt):
    """The first frame of `path` ('-': stdin, with --format) as ase.Atoms (atomic numbers,
    periodicity, cell)."""
    from eqt_analysis.io import xyz

    chunks = read_chunks(path, fmt, None, None, stop=1, chunk=1)
    try:
        return xyz.dataset_to_atoms(next(chunks))[0]
    finally:
        chunks.close()


@eqt_command()
@click.argument("model_file", metavar="MODEL")
@click.argument("structure", metavar="STRUCTURE")
@click.option("--address", default=None, metavar="HOST:PORT",
              help="Connect over TCP to the server at HOST:PORT (IPv4), e.g. localhost:31415.")
@click.option("--unix", "unixsocket", default=None, metavar="NAME",
              help="Connect to the Unix socket NAME in i-PI's convention, the file /tmp/ipi_NAME (i-PI's "
                   "<ffsocket mode='unix'><address>NAME</address>; ASE's SocketIOCalculator(unixsocket=NAME)).")
@click.option("--timeout", type=NON_NEGATIVE, default=10.0, show_default=True, metavar="SECONDS",
              help="Keep trying to connect this long while the server is not up yet (no limit once connected).")
@format_option
@model_options("Serve", "at every step")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no closing line of steps served.")
@command
def main(model_file, structure, address, unixsocket, timeout, fmt, float64, average, random_rotation, seed, memory,
         quiet):
    """Serve MODEL (model.pkl) to a running i-PI-protocol server as a client (a "driver"): i-PI
    (an <ffsocket> force field) or ASE (SocketIOCalculator, SocketServer). At every step the
    server sends the cell and positions; eqt-driver answers with the energy and forces, until
    the server sends EXIT or closes the connection. (LAMMPS's fix ipi is a client too: LAMMPS
    and eqt-driver meet only through an i-PI server.) STRUCTURE (its first frame, any trajectory format eqt
    reads) gives the atomic numbers and the periodicity, which the protocol does not send: the
    server must send the same number of atoms, in the same order. A periodic STRUCTURE takes
    the server's cell at every step; a non-periodic one ignores it.

    The virial sent is zero (the model gives no stress; ASE's client does the same for any
    calculator without one): pressures the server reports lack the potential part, so do not
    run constant-pressure (NPT) simulations or read pressures with eqt-driver.

    Give exactly one of --address and --unix. Exit code 2 with one line when no server
    answers within --timeout, for a bad address, a model/structure mismatch, an atom count
    that differs from STRUCTURE's, or a connection lost in the middle of a message. The
    number of steps served goes to stderr at the end.

    \b
    Example (i-PI input.xml with <ffsocket mode='unix'><address>eqt</address>):
      i-pi input.xml & eqt-driver example_data/model.pkl init.xyz --unix eqt --average 2
    """
    if (address is None) == (unixsocket is None):
        raise InputError("give exactly one of --address HOST:PORT and --unix NAME")
    if average is not None and random_rotation:
        raise InputError("choose --average or --random-rotation, not both")
    from eqt_model import driver

    host, port = driver.parse_address(address) if address is not None else ("localhost", None)
    if unixsocket is not None:
        driver.unix_socket_path(unixsocket)
    import jax

    if float64:
        jax.config.update("jax_enable_x64", True)
    from eqt_model.calculator import EQTCalculator

    calc = EQTCalculator(model_file, average, seed, memory, random_rotation)
    atoms = _template(structure, fmt)
    cell = atoms.cell.array if atoms.pbc.any() else None
    try:
        calc.potential.graph(atoms.positions, cell, atoms.numbers, atoms.pbc)  # species, cell: before connecting
    except InputError as err:
        raise InputError(str(err), structure) from None
    atoms.calc = calc
    client = driver.connect(host, port, unixsocket, timeout)
    where = driver.describe(host, port, unixsocket)
    steps = 0
    try:
        with tqdm(unit="step", disable=quiet, file=sys.stderr, desc="eqt-driver") as bar:
            for steps in driver.serve(client, atoms):
                bar.update()
    finally:
        if not quiet:
            click.echo(f"served {steps} steps to {where}", err=True)


if __name__ == "__main__":
    main()
