"""Extended XYZ through ASE.

Reading follows ASE's conventions: positions and cell in Å; `momenta` in ASE units
(velocities = momenta / masses, converted from Å/(ASE time unit) to Å/ps); energies in eV
and forces in eV/Å; `info['time']` in ASE time units (10.18 fs). Unit hints on the comment
line override: `time_units=fs|ps|ase|atomic_unit`, `velocity_units=Angstrom/fs|...` for a
`velocities` column, `energy_units=...`, `force_units=...`. Files written by i-PI's ASE
mode (with `ipi_comment`) give `Step:` as the step; their position unit tag must be Å.
Per-frame `info` keys with eqt's names carry eqt's units (`conserved_energy`, `kinetic_energy` in eV,
scaled by `energy_units=`; `temperature` in K); other keys have no units.

Writing stores velocities as ASE `momenta`, energy and forces as ASE calculator results,
`time` in ps with `time_units=ps`, and every per-frame and per-atom series.
"""
import re

import numpy as np

# ase.io is imported where used: it pulls in half of ASE and SciPy (~0.6 s of start-up).

from .. import trajectory as traj
from .. import units
from ..errors import InputError

HINTS = ("time_units", "velocity_units", "energy_units", "force_units")
VELOCITY_COLUMNS = ("velocities", "velocity", "vel", "velo")
SKIP_ARRAYS = {"numbers", "positions", "momenta", "masses", "forces", "molecule", *VELOCITY_COLUMNS}
SKIP_INFO = {"time", "step", "ipi_comment", "pbc", *HINTS}
RESULTS = {"energy": ("potential_energy", "energy"), "free_energy": ("free_energy", "energy"),
           "stress": ("stress", None), "dipole": ("dipole", None)}


def _hint(info, key, family, default, source):
    unit = info.get(key)
    if unit is None:
        return default
    try:
        return units.factor(family, str(unit))
    except KeyError:
        raise InputError(f"unknown {key}={unit!r}", source) from None


class _Schema:
    """What the first frame carries; later frames must carry the same."""

    def __init__(self, atoms, source):
        self.n_atoms = len(atoms)
        self.numbers = atoms.numbers.copy()
        self.source = source
        self.ipi = "ipi_comment" in atoms.info
        if self.ipi:
            tag = re.search(r"positions\{([^}]*)\}", str(atoms.info["ipi_comment"]))
            if tag and tag.group(1).lower() not in ("angstrom", "ang"):
                raise InputError(f"ipi_comment tags positions{{{tag.group(1)}}} but ASE reads the columns "
                                 "as Å; convert with the i-PI reader (--format ipi --units ...)", source)
        self.velocity_column = next((c for c in VELOCITY_COLUMNS if c in atoms.arrays), None)
        self.arrays = [k for k, v in atoms.arrays.items()
                       if k not in SKIP_ARRAYS and np.asarray(v).dtype.kind in "iufb"]
        self.info = [k for k, v in atoms.info.items()
                     if k not in SKIP_INFO and np.asarray(v).dtype.kind in "iufb"]
        results = atoms.calc.results if atoms.calc is not None else {}
        self.results = [k for k in results if k in RESULTS]
        self.fields = _fields(atoms, self.velocity_column)
        dropped = [k for k, v in atoms.arrays.items() if k not in SKIP_ARRAYS and k not in self.arrays]
        dropped += [k for k in atoms.info if k not in SKIP_INFO and k not in self.info]
        dropped += [k for k in results if k not in RESULTS and k != "forces"]
        if dropped:
            traj.warn(f"{source}: non-numeric or unsupported fields not carried over: {', '.join(dropped)}")


def _fields(atoms, velocity_column):
    """The per-frame quantities a frame carries (every frame of a file must carry the first one's)."""
    results = atoms.calc.results if atoms.calc is not None else {}
    carried = {"cell": bool(atoms.pbc.any()) or atoms.cell.rank == 3,
               "velocities": "momenta" in atoms.arrays or (velocity_column or "momenta") in atoms.arrays,
               "forces": "forces" in atoms.arrays or "forces" in results,
               "time": "time" in atoms.info, "step": "step" in atoms.info}
    return frozenset(name for name, present in carried.items() if present)


def frames_to_dataset(frames, schema, numbers=None):
    """Turn a list of ase.Atoms (one schema) into an eqt trajectory chunk; numbers: the file's
    frame numbers of the frames (for error messages)."""
    src = schema.source
    for k, atoms in enumerate(frames):
        if len(atoms) != schema.n_atoms or not np.array_equal(atoms.numbers, schema.numbers):
            raise InputError(f"frames have different atoms ({len(atoms)} atoms after {schema.n_atoms})", src)
        fields = _fields(atoms, schema.velocity_column)
        if fields != schema.fields:
            where = f"frame {numbers[k]}" if numbers is not None else "a frame"
            lacks, adds = sorted(schema.fields - fields), sorted(fields - schema.fields)
            raise InputError(f"{where} " + (f"lacks {', '.join(lacks)}" if lacks else f"has {', '.join(adds)}")
                             + " unlike the first frame: every frame must carry the same quantities", src)
    first = frames[0]
    pbc = first.pbc.copy()
    has_cell = bool(pbc.any()) or first.cell.rank == 3
    kwargs = {}
    if has_cell:
        kwargs["cell"] = np.stack([a.cell.array for a in frames])
    if "momenta" in first.arrays:
        kwargs["velocities"] = np.stack([a.get_velocities() for a in frames]) * units.ASE_VELOCITY
    elif schema.velocity_column:
        kwargs["velocities"] = np.stack([
            a.arrays[schema.velocity_column] * _hint(a.info, "velocity_units", "velocity", units.ASE_VELOCITY, src)
            for a in frames])
    results = [a.calc.results if a.calc is not None else {} for a in frames]
    if "forces" in first.arrays or "forces" in results[0]:
        kwargs["forces"] = np.stack([
            (r["forces"] if "forces" in r else a.arrays["forces"])
            * _hint(a.info, "force_units", "force", 1.0, src) for a, r in zip(frames, results)])
    if "time" in first.info:
        kwargs["time"] = [float(a.info["time"]) * _hint(a.info, "time_units", "time", units.ASE_TIME, src)
                          for a in frames]
    if "step" in first.info:
        kwargs["step"] = [int(a.info["step"]) for a in frames]
    elif schema.ipi:
        kwargs["step"] = [int(re.search(r"Step:\s*(\d+)", a.info["ipi_comment"]).group(1)) for a in frames]
    frame_data = {}
    for key in schema.results:
        name, family = RESULTS[key]
        try:
            values = np.array([r[key] for r in results], dtype=float)
        except KeyError:
            raise InputError(f"{key!r} is missing in some frames", src) from None
        if family == "energy":
            values = values * np.array([_hint(a.info, "energy_units", "energy", 1.0, src) for a in frames])
        frame_data[traj.safe_name(name)] = (values, traj.UNITS.get(name, ""))
    for key in schema.info:
        name = traj.safe_name(key)
        try:
            values = np.array([a.info[key] for a in frames])
        except KeyError:
            raise InputError(f"info key {key!r} is missing in some frames", src) from None
        unit = traj.UNITS.get(name, "")  # eqt's own series (conserved_energy, temperature, ...) in eqt's units
        if unit == "electronvolt":
            values = values.astype(float) * np.array([_hint(a.info, "energy_units", "energy", 1.0, src)
                                                      for a in frames])
        frame_data[name] = (values, unit)
    atom_data = {}
    for key in schema.arrays:
        atom_data[traj.safe_name(key)] = (np.stack([a.arrays[key] for a in frames]), "")
    if "molecule" in first.arrays:
        kwargs["molecule"] = first.arrays["molecule"]
    return traj.build(np.stack([a.positions for a in frames]), first.numbers, pbc=pbc,
                      masses=first.get_masses(), frame_data=frame_data, atom_data=atom_data,
                      source=src, frames=numbers, **kwargs)


def check_last_line(path):
    """Refuse a binary or UTF-16 file (NUL bytes near the start), and a text file whose last
    line has no newline: every writer ends its lines, so the file was cut (a cut inside a
    number would otherwise read as a wrong number)."""
    with open(path, "rb") as handle:
        if b"\0" in handle.read(4096):
            raise InputError("not a plain text file (NUL bytes: binary, or UTF-16 text; convert to UTF-8)", path)
        handle.seek(0, 2)
        if handle.tell() == 0:
            return
        handle.seek(-1, 2)
        if handle.read(1) != b"\n":
            raise InputError("truncated: the last line has no newline (file cut during a copy or a "
                             "write?); end it with a newline if the file is complete", path)


def count_frames(path, strict=False):
    """Frames in an xyz file (extxyz or i-PI): atom-count lines followed by their frames. A frame
    that declares more atoms than the file holds ends the count, or with `strict` is refused."""
    n = 0
    with open(path) as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                atoms = int(line.split()[0])
            except ValueError:
                break
            if atoms < 0 and strict:
                raise InputError(f"frame {n} declares a negative atom count {atoms}", path)
            for read in range(atoms + 1):
                if not handle.readline():
                    if strict:
                        raise InputError(f"truncated: frame {n} declares {atoms} atoms, the file ends after "
                                         f"{max(read - 1, 0)} of them", path)
                    return n
            n += 1
    return n


def iter_read(source, index=":", chunk_frames=256, name=None):
    """Stream an extxyz file (path or open text file) as eqt chunks of `chunk_frames`; index:
    ':' or a slice of frames. Yields nothing when the selection is empty."""
    import ase.io
    from ase.io.extxyz import XYZError

    name = name or str(source)
    sel = index if isinstance(index, slice) else slice(None)
    numbers = range(sel.start or 0, 2**62 if sel.stop is None else sel.stop, sel.step or 1)
    schema, buffer, done = None, [], 0
    try:
        if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
            check_last_line(source)
            count_frames(source, strict=True)  # ASE would read a declared count of lines past the end
        for atoms in ase.io.iread(source, index=index, format="extxyz"):
            if schema is None:
                schema = _Schema(atoms, name)
            buffer.append(atoms)
            if len(buffer) == chunk_frames:
                yield frames_to_dataset(buffer, schema, numbers[done:done + len(buffer)])
                done += len(buffer)
                buffer = []
    except InputError:
        raise
    except (XYZError, OSError, ValueError, IndexError, KeyError, StopIteration, RuntimeError,
            TypeError, UnicodeDecodeError) as err:
        raise InputError(f"malformed or truncated extxyz ({type(err).__name__}: {err})", name) from None
    if buffer:
        try:
            last = frames_to_dataset(buffer, schema, numbers[done:done + len(buffer)])
        except (KeyError, ValueError) as err:
            raise InputError(f"frames that differ from the first ({type(err).__name__}: {err})", name) from None
        yield last


def dataset_to_atoms(ds):
    """Turn an eqt trajectory chunk into a list of ase.Atoms (ASE conventions, see module doc)."""
    import ase
    from ase.calculators.singlepoint import SinglePointCalculator

    numbers = ds["atomic_number"].values
    masses = ds["mass"].values
    pbc = ds["pbc"].values
    frame_vars = [n for n in traj.series_names(ds) if ds[n].dims[:2] != ("frame", "atom")]
    atom_vars = [n for n in traj.series_names(ds) if ds[n].dims[:2] == ("frame", "atom")]
    out = []
    for i in range(ds.sizes["frame"]):
        atoms = ase.Atoms(numbers=numbers, positions=ds["positions"].values[i], masses=masses,
                          cell=ds["cell"].values[i] if "cell" in ds else None, pbc=pbc)
        if "velocities" in ds:
            atoms.set_velocities(ds["velocities"].values[i] / units.ASE_VELOCITY)
        results = {}
        if "forces" in ds:
            results["forces"] = ds["forces"].values[i]
        for name in frame_vars:
            value = ds[name].values[i]
            if name == "potential_energy":
                results["energy"] = float(value)
            elif name in ("free_energy", "stress"):
                results[name] = value
            else:
                atoms.info[name] = value.item() if value.ndim == 0 else value
        for name in atom_vars:
            atoms.arrays[name] = ds[name].values[i]
        if "molecule" in ds:
            atoms.arrays["molecule"] = ds["molecule"].values
        if "time" in ds.coords:
            atoms.info["time"] = float(ds["time"].values[i])
            atoms.info["time_units"] = "ps"
        if "step" in ds:
            atoms.info["step"] = int(ds["step"].values[i])
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        out.append(atoms)
    return out


class XYZWriter:
    """Append trajectory chunks to an extxyz file (path or open text file)."""

    def __init__(self, target):
        self._own = isinstance(target, (str, bytes)) or hasattr(target, "__fspath__")
        self._file = open(target, "w") if self._own else target

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def write(self, ds):
        import ase.io

        ase.io.write(self._file, dataset_to_atoms(ds), format="extxyz")
        self._file.flush()

    def close(self):
        if self._own and not self._file.closed:
            self._file.close()
