"""The trajectory type: one `xarray.Dataset` in eqt units, whatever the file format.

Dimensions
    frame        frames (unlimited on disk)
    atom         atoms
    spatial      x, y, z
    cell_vector  a, b, c (rows of the cell matrix)

Variables (units attribute on each)
    positions      (frame, atom, spatial)      Å        always
    cell           (frame, cell_vector, spatial) Å      when periodic in some direction
    pbc            (spatial)                   bool     always
    velocities     (frame, atom, spatial)      Å/ps     when the input has them
    forces         (frame, atom, spatial)      eV/Å     when the input has them
    time           (frame)                     ps       coordinate, when known
    step           (frame)                     integer  when known
    atomic_number  (atom)                      integer  always (0 = unknown element)
    mass           (atom)                      amu      always
    molecule       (atom)                      integer  molecule index, when assigned
    any per-frame series (frame[, ...]) such as potential_energy (eV), kinetic_energy (eV),
    conserved_energy (eV), temperature (K); any per-atom extra (frame, atom[, ...]).

Positions, cells, velocities and forces are float64 in memory. Readers yield chunks of
frames in this form; `concat` joins them; `iter_chunks` slices a (lazy) Dataset.
"""
import re
import warnings

import numpy as np
import xarray as xr
from ase.data import atomic_masses, chemical_symbols

from . import cell as cellmod
from .errors import InputError

XYZ = ("frame", "atom", "spatial")
UNITS = {
    "positions": "angstrom",
    "cell": "angstrom",
    "velocities": "angstrom/picosecond",
    "forces": "electronvolt/angstrom",
    "time": "picosecond",
    "mass": "dalton",
    "potential_energy": "electronvolt",
    "kinetic_energy": "electronvolt",
    "conserved_energy": "electronvolt",
    "free_energy": "electronvolt",
    "temperature": "kelvin",
    "stress": "electronvolt/angstrom^3",
}
LONG_NAMES = {
    "positions": "Cartesian positions",
    "cell": "cell matrix, lattice vectors as rows",
    "pbc": "periodic in direction",
    "velocities": "velocities",
    "forces": "forces",
    "time": "simulation time",
    "step": "MD step",
    "atomic_number": "atomic number (0 = unknown)",
    "mass": "atomic mass",
    "molecule": "molecule index",
    "potential_energy": "potential energy",
    "kinetic_energy": "kinetic energy",
    "conserved_energy": "conserved energy",
    "temperature": "temperature",
}
CORE = ("positions", "cell", "pbc", "velocities", "forces", "time", "step",
        "atomic_number", "mass", "molecule")


class EqtWarning(UserWarning):
    """A quantity eqt could not carry over, or an assumption the user should know."""


def safe_name(name):
    """A NetCDF-safe variable name: `pot_component_raw(0)` -> `pot_component_raw_0`."""
    name = re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_")
    return name if name and not name[0].isdigit() else f"v_{name}"


def build(positions, atomic_numbers, *, cell=None, pbc=None, velocities=None, forces=None,
          time=None, step=None, masses=None, molecule=None, frame_data=None, atom_data=None,
          source=None):
    """Assemble and validate a trajectory chunk from arrays in eqt units.

    positions (n_frames, n_atoms, 3) Å; cell (n_frames, 3, 3) Å or None for an open system;
    pbc (3,) bool (default: all True with a cell, all False without); velocities Å/ps;
    forces eV/Å; time (n_frames,) ps; masses amu (default: standard masses of the elements).
    frame_data: {name: (values (n_frames, ...), units)}; atom_data: {name: (values
    (n_frames, n_atoms, ...), units)}. `source` names the file in error messages.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise InputError(f"positions must be (frames, atoms, 3), got {positions.shape}", source)
    n_frames, n_atoms, _ = positions.shape
    numbers = np.asarray(atomic_numbers, dtype=np.int32).reshape(n_atoms)
    if masses is None:
        masses = atomic_masses[numbers]
    data = {
        "positions": (XYZ, positions),
        "atomic_number": (("atom",), numbers),
        "mass": (("atom",), np.asarray(masses, dtype=np.float64).reshape(n_atoms)),
    }
    if cell is not None:
        data["cell"] = (("frame", "cell_vector", "spatial"),
                        np.asarray(cell, dtype=np.float64).reshape(n_frames, 3, 3))
    if pbc is None:
        pbc = np.full(3, cell is not None)
    data["pbc"] = (("spatial",), np.asarray(pbc, dtype=bool).reshape(3))
    for name, value in (("velocities", velocities), ("forces", forces)):
        if value is not None:
            data[name] = (XYZ, np.asarray(value, dtype=np.float64).reshape(positions.shape))
    if step is not None:
        data["step"] = (("frame",), np.asarray(step, dtype=np.int64).reshape(n_frames))
    if molecule is not None:
        data["molecule"] = (("atom",), np.asarray(molecule, dtype=np.int32).reshape(n_atoms))
    extra_units = {}
    for kind, table, lead in (("frame", frame_data, ("frame",)), ("atom", atom_data, ("frame", "atom"))):
        for name, (values, units) in (table or {}).items():
            values = np.asarray(values)
            dims = lead + tuple(f"{name}_dim{k}" for k in range(1, values.ndim - len(lead) + 1))
            data[name] = (dims, values)
            extra_units[name] = units
    coords = {}
    if time is not None:
        coords["time"] = ("frame", np.asarray(time, dtype=np.float64).reshape(n_frames))
    ds = xr.Dataset(data, coords=coords)
    for name, var in ds.variables.items():
        units = extra_units.get(name, UNITS.get(name))
        if units is not None:
            var.attrs["units"] = units
        if name in LONG_NAMES:
            var.attrs["long_name"] = LONG_NAMES[name]
    validate(ds, source)
    return ds


def validate(ds, source=None):
    """Refuse non-finite positions and degenerate periodic cells (raises InputError)."""
    positions = np.asarray(ds["positions"].values)
    if not np.all(np.isfinite(positions)):
        bad = np.argwhere(~np.isfinite(positions))[0]
        raise InputError(f"non-finite coordinate (NaN or inf) in frame {bad[0]}, atom {bad[1]}", source)
    if "cell" in ds and bool(np.any(ds["pbc"].values)):
        cells = np.asarray(ds["cell"].values)
        if not np.all(np.isfinite(cells)):
            raise InputError("non-finite cell entries", source)
        vol = cellmod.volume(cells)
        if np.any(vol < 1e-6):
            frame = int(np.argmax(vol < 1e-6))
            raise InputError(f"zero-volume cell in frame {frame} (periodic system needs a full cell)", source)


def concat(chunks):
    """Join trajectory chunks along `frame` (per-atom variables taken from the first)."""
    chunks = list(chunks)
    if not chunks:
        raise InputError("no frames")
    if len(chunks) == 1:
        return chunks[0]
    return xr.concat(chunks, dim="frame", data_vars="minimal", coords="minimal",
                     compat="override", join="exact")


def iter_chunks(ds, frames=256):
    """Yield consecutive frame chunks of `ds`, loaded into memory, `frames` at a time."""
    n = ds.sizes["frame"]
    for start in range(0, n, frames):
        yield ds.isel(frame=slice(start, min(start + frames, n))).load()


def symbols(ds):
    """Chemical symbols of the atoms ('X' for unknown)."""
    return [chemical_symbols[z] for z in np.asarray(ds["atomic_number"].values)]


def species(numbers):
    """Chemical symbols present, in order of first appearance (O, H for water)."""
    return [chemical_symbols[z] for z in dict.fromkeys(np.asarray(numbers).tolist())]


def series_names(ds):
    """Names of the per-frame and per-atom extras (everything but the core variables)."""
    return [name for name in ds.data_vars if name not in CORE]


def warn(message):
    """Tell the user about an assumption or a dropped quantity (goes to stderr in the CLI)."""
    warnings.warn(message, EqtWarning, stacklevel=2)
