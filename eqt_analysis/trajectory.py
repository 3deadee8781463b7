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

Every number read is checked (`validate`, InputError naming file, variable, frame, atom):
at least one atom; atomic numbers 0..118; masses >= 0 (not all 0); no NaN or inf in any float variable; periodic cells with vectors of at most 1e6 Å and a
volume; positions within ±1e3 cell lengths (fractional coordinates) of a periodic system,
within 1e6 Å of the origin for an open one; velocities below the speed of light.
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
          source=None, frames=None):
    """Assemble and validate a trajectory chunk from arrays in eqt units.

    positions (n_frames, n_atoms, 3) Å; cell (n_frames, 3, 3) Å or None for an open system;
    pbc (3,) bool (default: all True with a cell, all False without); velocities Å/ps;
    forces eV/Å; time (n_frames,) ps; masses amu (default: standard masses of the elements).
    frame_data: {name: (values (n_frames, ...), units)}; atom_data: {name: (values
    (n_frames, n_atoms, ...), units)}. `source` names the file and `frames` (the file's
    frame numbers of these frames) the frames in error messages.
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
    validate(ds, source, frames)
    return ds


MAX_CARTESIAN = 1e6  # Å: largest |coordinate| of an open system and longest cell vector (100 µm)
MAX_FRACTIONAL = 1e3  # largest |fractional coordinate| (cell lengths) of a periodic system
SPEED_OF_LIGHT = 2.99792458e6  # Å/ps: no velocity exceeds it
MAX_ATOMIC_NUMBER = 118


def _at(bad, dims, frames=None, atoms=None):
    """'frame 3, atom 7' for the first True of `bad` (dims names its axes); frames and atoms
    map local indices to the file's numbers."""
    first = np.argwhere(bad)[0]
    words = []
    for dim, numbers in (("frame", frames), ("atom", atoms)):
        if dim in dims:
            k = first[dims.index(dim)]
            words.append(f"{dim} {numbers[k] if numbers is not None else k}")
    return ", ".join(words) or "entry " + ",".join(str(k) for k in first), tuple(first)


def check_array(name, values, dims, source=None, cells=None, frames=None, atoms=None):
    """Refuse what variable `name` (values with dimension names `dims`) cannot hold: NaN or
    inf anywhere; for positions, fractional coordinates beyond ±MAX_FRACTIONAL when `cells`
    (one cell per frame of values, Å) are given, else |coordinates| beyond MAX_CARTESIAN Å;
    velocities faster than light. frames/atoms: the file's numbers of the rows (messages)."""
    values = np.asarray(values)
    dims = tuple(dims)
    if not values.size:
        return
    per_frame = name == "positions" and cells is not None and values.ndim == 3
    rows = values.reshape(len(values), -1) if per_frame else values.reshape(1, -1)  # contiguous rows: fast reductions
    largest = np.maximum(rows.max(axis=1), -rows.min(axis=1))  # |values| per frame; NaN propagates
    largest = largest if per_frame else largest[0]
    if not np.all(np.isfinite(largest)):
        where, _ = _at(~np.isfinite(values), dims, frames, atoms)
        raise InputError(f"NaN or inf in {name} at {where}", source)
    if name == "positions" and cells is not None:
        inverse = np.linalg.inv(cells)
        # |frac_j| <= max_i |x_i| * sum_i |inv_ij|: settles every sane frame without the product
        if np.all(largest * np.abs(inverse).sum(axis=-2).max(axis=-1) <= MAX_FRACTIONAL):
            return
        frac = values @ inverse  # (T, N, 3) @ (T, 3, 3): batched matmul, far faster than einsum
        bad = np.abs(frac) > MAX_FRACTIONAL
        if bad.any():
            where, k = _at(bad, dims, frames, atoms)
            raise InputError(f"positions at {where} lie {abs(frac[k]):.3g} cell lengths from the cell "
                             f"(limit {MAX_FRACTIONAL:g}): corrupt coordinates or a wrong unit", source)
    elif name == "positions" and largest > MAX_CARTESIAN:
        bad = np.abs(values) > MAX_CARTESIAN
        if bad.any():
            where, k = _at(bad, dims, frames, atoms)
            raise InputError(f"positions at {where}: coordinate {values[k]:.3g} Å exceeds {MAX_CARTESIAN:g} Å "
                             "(limit for systems without a periodic cell): corrupt coordinates or a wrong unit",
                             source)
    elif name == "velocities" and largest * np.sqrt(3) > SPEED_OF_LIGHT:
        bad = np.einsum("...a,...a->...", values, values) > SPEED_OF_LIGHT**2
        if bad.any():
            where, _ = _at(bad, dims[:-1], frames, atoms)
            raise InputError(f"velocities at {where} exceed the speed of light ({SPEED_OF_LIGHT:g} Å/ps): "
                             "corrupt values or a wrong unit", source)


def check_cells(cells, source=None, frames=None):
    """Refuse periodic cells (T, 3, 3) Å with NaN/inf, a vector longer than MAX_CARTESIAN Å, or
    (nearly) zero volume."""
    check_array("cell", cells, ("frame", "cell_vector", "spatial"), source, frames=frames)
    lengths = np.linalg.norm(cells, axis=-1)
    if np.any(lengths > MAX_CARTESIAN):
        where, k = _at(lengths > MAX_CARTESIAN, ("frame", "cell_vector"), frames)
        raise InputError(f"cell vector of {lengths[k]:.3g} Å at {where} (limit {MAX_CARTESIAN:g} Å): corrupt "
                         "cell or a wrong unit", source)
    vol = cellmod.volume(cells)
    if np.any(vol < 1e-6):
        where, _ = _at(vol < 1e-6, ("frame",), frames)
        raise InputError(f"zero-volume cell at {where} (periodic system needs a full cell)", source)


def validate(ds, source=None, frames=None):
    """Refuse numbers that make no sense (raises InputError naming variable, frame and atom):
    no atoms; atomic numbers outside 0..118; negative (or only zero) masses; NaN or inf in any float variable; periodic cells with a vector over 1e6 Å or zero volume;
    positions beyond ±1e3 cell lengths in fractional coordinates (periodic systems) or beyond
    1e6 Å (open systems); velocities faster than light. Variables still on disk (lazy) are
    skipped: netcdf.open_lazy checks them as they are read. frames: the file's frame numbers
    of the chunk's frames (messages only)."""
    if ds.sizes.get("atom", 0) == 0:
        raise InputError("frames without atoms", source)
    numbers = np.asarray(ds["atomic_number"].values)
    if np.any((numbers < 0) | (numbers > MAX_ATOMIC_NUMBER)):
        k = int(np.argmax((numbers < 0) | (numbers > MAX_ATOMIC_NUMBER)))
        raise InputError(f"atomic number {numbers[k]} of atom {k} is no element (0 = unknown, 1-118)", source)
    masses = np.asarray(ds["mass"].values) if "mass" in ds else np.ones(1)
    if np.any(masses < 0) or not np.any(masses > 0):  # zero is a massless site (TIP4P M)
        k = int(np.argmax(masses < 0))
        raise InputError(f"mass {masses[k]:g} of atom {k}: masses must be >= 0, some > 0", source)
    periodic = "cell" in ds and bool(np.any(ds["pbc"].values))
    cells = None
    if "cell" in ds and ds["cell"].variable._in_memory:
        cells = np.asarray(ds["cell"].values)
        if periodic:
            check_cells(cells, source, frames)
    names = ["positions"] + [n for n in ds.variables if n != "positions" and not (n == "cell" and periodic)]
    for name in names:
        var = ds.variables[name]
        if var.dtype.kind != "f" or not var._in_memory:
            continue
        check_array(name, var.values, var.dims, source, cells if periodic else None, frames)


def concat(chunks, source=None):
    """Join trajectory chunks along `frame` (per-atom variables taken from the first)."""
    chunks = list(chunks)
    if not chunks:
        raise InputError("no frames", source)
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
