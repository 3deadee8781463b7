"""i-PI output: xyz trajectories and `.out` property files, in i-PI's own units.

xyz: the comment line carries the cell (`CELL(abcABC): a b c alpha beta gamma`, or
`CELL(H):` with the 9 entries of i-PI's column-vector matrix h, row-major), `Step:`, and a
tag naming what the three columns hold and in which unit: `positions{angstrom}`,
`forces{atomic_unit}`, `velocities{...}`, `momenta{...}`, or the `x_/v_/p_/f_centroid`
variants; `cell{unit}` gives the cell unit. Without tags i-PI means atomic units, but old
files printed Å without saying so: eqt refuses an untagged file unless `units` is given, and
refuses a `units` that contradicts a tag (units read twice or not at all).

Several files of one run (positions, velocities, forces) are merged frame by frame; their
steps must agree.

Property files: columns named in the `# column N --> name{unit} : ...` header (and
`# cols. N-M` for vectors), atomic units unless tagged; converted to eqt units by the
property's dimension, renamed where eqt has a standard name (potential -> potential_energy,
conserved -> conserved_energy, kinetic_md -> kinetic_energy), otherwise kept under a
NetCDF-safe form of their name, e.g. `pot_component_raw(0)` -> `pot_component_raw_0`.
"""
import re
import warnings

import numpy as np
from ase.data import atomic_masses, atomic_numbers

from .. import cell as cellmod
from .. import trajectory as traj
from .. import units
from ..errors import InputError
from . import xyz

QUANTITIES = {  # i-PI tag -> (eqt name, unit family)
    "positions": ("positions", "length"), "x_centroid": ("positions", "length"),
    "velocities": ("velocities", "velocity"), "v_centroid": ("velocities", "velocity"),
    "momenta": ("momenta", None), "p_centroid": ("momenta", None),
    "forces": ("forces", "force"), "f_centroid": ("forces", "force"),
}
_CELL_ABC = re.compile(r"CELL[\(\[\{]abcABC[\)\]\}]:\s*((?:\S+\s+){5}\S+)")
_CELL_H = re.compile(r"CELL[\(\[\{](GEN)?H[\)\]\}]:\s*((?:\S+\s+){8}\S+)")  # GENH: row vectors; H: columns
_TAG = re.compile(r"\b([A-Za-z_]+)\{([^}]*)\}")
_STEP = re.compile(r"Step:\s*(\d+)")


def looks_like_ipi(first_comment):
    """True for an i-PI xyz comment line (a `CELL(...)` header)."""
    return bool(re.search(r"CELL[\(\[\{](abcABC|H|GENH)[\)\]\}]", first_comment))


def parse_comment(comment, source, units_override=None):
    """Cell (3, 3) Å, step, eqt quantity name and factor to eqt units from one comment line."""
    tags = {k: v for k, v in _TAG.findall(comment)}
    quantity = [k for k in tags if k in QUANTITIES]
    unknown = [k for k in tags if k not in QUANTITIES and k != "cell"]
    if unknown:
        raise InputError(f"unsupported i-PI quantity tag {unknown[0]}{{{tags[unknown[0]]}}}", source)
    if len(quantity) > 1:
        raise InputError(f"several quantity tags in one comment line: {quantity}", source)
    if not quantity and units_override is None:
        raise InputError("i-PI xyz without a unit tag (e.g. positions{angstrom}): its units cannot be "
                         "told; pass --units atomic_unit or --units angstrom", source)
    name, family = QUANTITIES[quantity[0]] if quantity else ("positions", "length")
    unit = tags[quantity[0]] if quantity else units_override
    cell_unit = tags.get("cell", units_override or "atomic_unit")
    for given, what in ((unit, "columns"), (tags.get("cell"), "cell")):
        if units_override and given and given.lower() != units_override.lower():
            raise InputError(f"--units {units_override} contradicts the file's {what} tag {{{given}}}", source)
    try:
        scale = 1.0 if family is None else units.factor(family, unit)
        if family is None and unit.lower() not in ("atomic_unit", "au", ""):
            raise KeyError(unit)
        cell_scale = units.factor("length", cell_unit)
    except KeyError as err:
        raise InputError(f"unknown unit in comment line ({err})", source) from None
    box = None
    match_abc, match_h = _CELL_ABC.search(comment), _CELL_H.search(comment)
    try:
        if match_abc:
            par = np.array(match_abc.group(1).split(), dtype=float)
            box = cellmod.from_lengths_angles(par[:3] * cell_scale, par[3:])
        elif match_h:
            box = np.array(match_h.group(2).split(), dtype=float).reshape(3, 3) * cell_scale
            box = box if match_h.group(1) else box.T  # eqt cells hold the lattice vectors as rows
    except ValueError:
        raise InputError(f"malformed CELL in comment line: {comment.strip()!r}", source) from None
    step = _STEP.search(comment)
    return box, (int(step.group(1)) if step else None), name, scale


def read_frames(handle, source, units_override=None):
    """Yield (labels, cell, step, quantity, values (n_atoms, 3) in eqt units) per frame."""
    line_no = 0
    while True:
        header = handle.readline()
        line_no += 1
        if not header:
            return
        if not header.strip():
            continue
        try:
            n_atoms = int(header.split()[0])
        except ValueError:
            raise InputError(f"line {line_no}: expected an atom count, got {header.strip()[:40]!r}", source) from None
        if n_atoms < 0:
            raise InputError(f"line {line_no}: negative atom count {n_atoms}", source)
        comment = handle.readline()
        lines = []
        while len(lines) < n_atoms and (line := handle.readline()):  # stops at the end of a truncated file
            lines.append(line)
        line_no += 1 + len(lines)
        if not comment or len(lines) < n_atoms:
            raise InputError(f"truncated frame ending at line {line_no} ({len(lines)} of {n_atoms} atom lines)",
                             source)
        box, step, quantity, scale = parse_comment(comment, source, units_override)
        try:
            rows = [ln.split() for ln in lines]
            labels = [r[0] for r in rows]
            values = np.array([r[1:4] for r in rows], dtype=float)
        except (ValueError, IndexError):
            raise InputError(f"malformed atom line in frame ending at line {line_no}", source) from None
        if values.shape != (n_atoms, 3):
            raise InputError(f"malformed atom line in frame ending at line {line_no}", source)
        yield labels, box, step, quantity, values * scale


def element_numbers(labels):
    """Atomic numbers from i-PI labels ('O', 'H1', 'OW' -> 8, 1, 8); 0 if not an element."""
    out = []
    for label in labels:
        letters = re.match(r"[A-Za-z]+", label)
        key = letters.group(0) if letters else ""
        z = atomic_numbers.get(key.capitalize(), atomic_numbers.get(key[:1].upper(), 0)) if key else 0
        out.append(z)
    return np.array(out, dtype=np.int32)


def iter_read(paths, units_override=None, chunk_frames=256, start=0, stop=None, stride=1):
    """Stream one or several i-PI xyz files of one run as merged eqt chunks."""
    paths = [str(p) for p in paths]
    handles = []
    try:
        for p in paths:
            try:
                handles.append(open(p))
            except OSError as err:
                raise InputError(f"cannot open ({err.strerror})", p) from None
        for p in paths:
            xyz.check_last_line(p)
        streams = [read_frames(h, p, units_override) for h, p in zip(handles, paths)]
        buffer, numbers, index = [], [], 0
        while True:
            frames = [next(s, None) for s in streams]
            if all(f is None for f in frames):
                break
            if any(f is None for f in frames):
                short = paths[[f is None for f in frames].index(True)]
                raise InputError("has fewer frames than the other i-PI files of the run", short)
            if stop is not None and index >= stop:
                break
            if index >= start and (index - start) % stride == 0:
                buffer.append(_merge(frames, paths))
                numbers.append(index)
            index += 1
            if len(buffer) == chunk_frames:
                yield _build(buffer, paths[0], numbers)
                buffer, numbers = [], []
        if buffer:
            yield _build(buffer, paths[0], numbers)
        elif index == 0:
            raise InputError("no frames in file", paths[0])
    finally:
        for h in handles:
            h.close()


def _merge(frames, paths):
    merged = {}
    labels, box, step = frames[0][0], frames[0][1], frames[0][2]
    for (lab, _, st, quantity, values), path in zip(frames, paths):
        if lab != labels:
            raise InputError("atoms differ from the first file of the run", path)
        if st != step:
            raise InputError(f"step {st} does not match step {step} of {paths[0]}", path)
        if quantity in merged:
            raise InputError(f"{quantity} given twice", path)
        merged[quantity] = values
    merged.update(labels=labels, cell=box, step=step)
    return merged


def _build(frames, source, numbers=None):
    first = frames[0]
    if "positions" not in first:
        raise InputError("no positions among the i-PI files given (add the positions file of the run)", source)
    if any(f["labels"] != first["labels"] for f in frames):
        raise InputError("frames have different atoms", source)
    atomic = element_numbers(first["labels"])
    masses = atomic_masses[atomic]
    kwargs = {}
    if first["cell"] is not None:
        kwargs["cell"] = np.stack([f["cell"] for f in frames])
    if first["step"] is not None:
        kwargs["step"] = [f["step"] for f in frames]
    if "velocities" in first:
        kwargs["velocities"] = np.stack([f["velocities"] for f in frames])
    elif "momenta" in first:  # atomic units: p / m in bohr/aut
        m_au = masses / units.AU_MASS
        kwargs["velocities"] = np.stack([f["momenta"] / m_au[:, None] for f in frames]) * units.AU_VELOCITY
    if "forces" in first:
        kwargs["forces"] = np.stack([f["forces"] for f in frames])
    return traj.build(np.stack([f["positions"] for f in frames]), atomic, masses=masses,
                      source=source, frames=numbers, **kwargs)


# ------------------------------------------------------------------ property files (.out)
PROPERTY_FAMILY = {
    "time": "time", "conserved": "energy", "temperature": "temperature", "potential": "energy",
    "kinetic_md": "energy", "kinetic_cv": "energy", "kinetic_td": "energy", "kinetic_tens": "energy",
    "pot_component": "energy", "pot_component_raw": "energy", "spring": "energy",
    "bias_potential": "energy", "ensemble_bias": "energy", "ensemble_temperature": "temperature",
    "pressure_md": "pressure", "pressure_cv": "pressure", "stress_md": "pressure",
    "stress_cv": "pressure", "ensemble_pressure": "pressure", "volume": "volume", "cell_h": "length",
    "atom_x": "length", "atom_v": "velocity", "atom_f": "force",
}
PROPERTY_NAMES = {"potential": "potential_energy", "conserved": "conserved_energy",
                  "kinetic_md": "kinetic_energy", "pressure_md": "pressure"}
_COLUMN = re.compile(r"#\s*col(?:umn|s\.)\s+(\d+)(?:\s*-\s*(\d+))?\s*-->\s*(\S+)")


def read_properties(path):
    """Read an i-PI property file: {eqt name: (values (rows[, k]), units)} in eqt units.

    Integer columns `step` stay integers; `time` is in ps.
    """
    path = str(path)
    columns = []
    try:
        xyz.check_last_line(path)
        with open(path) as handle:
            for line in handle:
                if not line.startswith("#"):
                    break
                match = _COLUMN.match(line)
                if match:
                    lo = int(match.group(1))
                    hi = int(match.group(2) or lo)
                    columns.append((lo - 1, hi, match.group(3)))
        with warnings.catch_warnings():  # an empty table is refused below, in one line
            warnings.filterwarnings("ignore", "loadtxt: input contained no data")
            data = np.loadtxt(path, comments="#", ndmin=2)
    except OSError as err:
        raise InputError(f"cannot open ({err.strerror})", path) from None
    except ValueError as err:
        raise InputError(f"malformed property file ({err})", path) from None
    if not columns:
        raise InputError("no '# column N --> name' header: not an i-PI property file", path)
    if data.size == 0:
        raise InputError("no data rows after the header", path)
    if data.shape[1] < max(hi for _, hi, _ in columns):
        raise InputError(f"header names {max(hi for _, hi, _ in columns)} columns, rows have {data.shape[1]}", path)
    if not np.all(np.isfinite(data)):
        row, col = np.argwhere(~np.isfinite(data))[0]
        label = next((name for lo, hi, name in columns if lo <= col < hi), "unnamed")
        raise InputError(f"NaN or inf in column {col + 1} ({label}) at data row {row + 1}", path)
    out = {}
    for lo, hi, label in columns:
        base = re.match(r"[A-Za-z_]+", label).group(0)
        unit = re.search(r"\{([^}]*)\}", label)
        unit = unit.group(1) if unit else None
        plain = re.sub(r"\{[^}]*\}", "", label)
        values = data[:, lo] if hi - lo == 1 else data[:, lo:hi]
        if base == "step":
            out["step"] = (values.astype(np.int64), "")
            continue
        family = PROPERTY_FAMILY.get(base)
        name = PROPERTY_NAMES.get(plain, traj.safe_name(plain))
        if family is None:
            traj.warn(f"{path}: unknown dimension of property {label!r}; kept unconverted")
            out[name] = (values, unit or "atomic_unit (unconverted)")
            continue
        try:
            scale = units.factor(family, unit or "atomic_unit")
        except KeyError:
            raise InputError(f"unknown unit {unit!r} of property {label!r}", path) from None
        out[name] = (values * scale, units.FAMILIES[family][1])
    return out


class PropertyJoiner:
    """Attach property rows to streamed trajectory chunks.

    join='step' matches each frame's step to a row; 'order' takes rows in order after
    `skip` rows (i-PI replays: the first row is the start structure, so skip=1);
    'auto' uses 'step' when every frame of the first chunk finds its step, else 'order'.
    Call `finish()` after the last chunk: it checks that no row was left over in 'order' mode.
    """

    def __init__(self, properties, path, join="auto", skip=0):
        self.props = {k: (v[skip:], u) for k, (v, u) in properties.items()}
        self.path = str(path)
        self.join = join
        self.used = 0
        self.n_rows = len(next(iter(self.props.values()))[0])

    def __call__(self, ds):
        n = ds.sizes["frame"]
        if self.join == "auto":
            steps = self.props.get("step")
            ok = steps is not None and "step" in ds and np.isin(ds["step"].values, steps[0]).all()
            self.join = "step" if ok else "order"
        if self.join == "step":
            if "step" not in ds or "step" not in self.props:
                raise InputError("join by step needs steps in both the trajectory and the property file", self.path)
            row_of = {int(s): i for i, s in enumerate(self.props["step"][0])}
            missing = [int(s) for s in ds["step"].values if int(s) not in row_of]
            if missing:
                raise InputError(f"no property row for step {missing[0]}", self.path)
            rows = np.array([row_of[int(s)] for s in ds["step"].values])
        else:
            rows = np.arange(self.used, self.used + n)
            if rows[-1:].size and rows[-1] >= self.n_rows:
                raise InputError(f"{self.n_rows} property rows for more frames; check --properties-skip "
                                 "or use --properties-join step", self.path)
        self.used += n
        for name, (values, unit) in self.props.items():
            if name == "step":
                continue
            if name == "time":
                if "time" not in ds.coords:
                    ds = ds.assign_coords(time=("frame", values[rows]))
                    ds["time"].attrs.update(units="picosecond", long_name="simulation time")
                continue
            if name in ds:
                traj.warn(f"{self.path}: property {name!r} replaces the trajectory's own")
            dims = ("frame",) + tuple(f"{name}_dim{k}" for k in range(1, values.ndim))
            ds[name] = (dims, values[rows])
            ds[name].attrs["units"] = unit
        return ds

    def finish(self):
        if self.join == "order" and self.used != self.n_rows:
            raise InputError(f"{self.n_rows} property rows but {self.used} frames; check --properties-skip "
                             "or use --properties-join step", self.path)
