"""The fuzz corpus: small valid inputs for every eqt command and bad files derived from them.

`build(root)` writes everything under `root` (a session temporary folder) and returns a
`Corpus`: `valid[key]` are the good files (trajectories, one-frame structures, property file,
labelled structures, model, topologies, analysis results made by eqt-rdf and eqt-msd) and
`bad[name]` the damaged ones, each a `BadFile` that
says which input slot it fills (`kind`), which class of damage it carries and whether a command
may still accept it (`maybe_ok`: a change that can leave a readable file, e.g. CRLF line endings).

Nothing is read from outside the repository except example_data/model-small.pkl (the model the
hostile model files are made from); no network, no ../shared/data.
"""
import dataclasses
import struct
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "example_data" / "model-small.pkl"

N_MOL, N_FRAMES = 8, 12
BOX = 13.0  # Å, cubic: half-width 6.5 > eqt-rdf's default rmax 6
DT_FS = 2.0


@dataclasses.dataclass(frozen=True)
class BadFile:
    name: str  # unique, used in test ids
    path: Path
    kind: str  # the input slot: traj, series, data, model, topology, structure, result
    klass: str  # input class (docs/hardening.md rows)
    commands: tuple | str | None = None  # None: every command taking `kind`; 'several_frames', 'waters' or names
    maybe_ok: bool = False  # a readable file may come out of this damage (then exit 0 is fine too)
    array: str | None = None  # for NaN/inf cases: which array is damaged (see Spec.skips in test_fuzz)
    pair: dict | None = None  # other inputs of the run (slot -> key of Corpus.valid), e.g. the trajectory of a topology


@dataclasses.dataclass
class Corpus:
    root: Path
    valid: dict
    bad: dict
    # valid['traj.nc']'s NetCDF-3 layout (vars: name -> begin, type, size, shape, record; recsize, size,
    # first_record) and what the byte mutations start from (bytes of traj.nc and model.pkl, the text of
    # traj.xyz, data.xyz and props.out)
    nc_layout: dict


# ---------------------------------------------------------------------------- valid systems

def _waters(n_mol, box, rng):
    """Rigid waters on a grid in a cubic box (no overlaps), random orientations."""
    r, theta = 0.9572, np.radians(104.52)
    local = np.array([[0, 0, 0], [r, 0, 0], [r * np.cos(theta), r * np.sin(theta), 0]])
    side = int(np.ceil(n_mol ** (1 / 3)))
    grid = np.array([[i, j, k] for i in range(side) for j in range(side) for k in range(side)])[:n_mol]
    out = []
    for m in range(n_mol):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        centre = (grid[m] + 0.5 + 0.05 * rng.normal(size=3)) * box / side
        out.append(centre + local @ q.T)
    return np.concatenate(out), np.tile([8, 1, 1], n_mol)


def water_frames(n_frames=N_FRAMES, n_mol=N_MOL, box=BOX, seed=0, pbc=True):
    """ase.Atoms frames of a small water box with momenta, forces, energy, time (ASE units)."""
    import ase
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    pos, numbers = _waters(n_mol, box, rng)
    frames = []
    for k in range(n_frames):
        atoms = ase.Atoms(numbers=numbers, positions=pos + 0.02 * k * rng.normal(size=pos.shape),
                          cell=np.eye(3) * box if pbc else None, pbc=pbc)
        atoms.set_momenta(rng.normal(size=(len(atoms), 3)))
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0 - rng.random(),
                                           forces=rng.normal(size=(len(atoms), 3)))
        atoms.info["time"] = k * DT_FS * ase.units.fs
        atoms.info["step"] = k
        atoms.info["conserved_energy"] = -9.0 + 1e-4 * k + 1e-5 * rng.normal()
        frames.append(atoms)
    return frames


def molecule_frames(kind, n_frames=N_FRAMES, box=BOX, seed=1):
    """Frames of 8 CH4 or 8 N2 molecules (no water at all), with momenta and forces."""
    import ase
    from ase.build import molecule
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    atoms = ase.Atoms(cell=np.eye(3) * box, pbc=True)
    for m in range(8):
        mol = molecule(kind)
        mol.translate((np.array([m & 1, (m >> 1) & 1, (m >> 2) & 1]) + 0.5) * box / 2)
        atoms += mol
    frames = []
    for k in range(n_frames):
        a = atoms.copy()
        a.positions += 0.02 * k * rng.normal(size=a.positions.shape)
        a.set_momenta(rng.normal(size=(len(a), 3)))
        a.calc = SinglePointCalculator(a, energy=-5.0 - rng.random(), forces=rng.normal(size=(len(a), 3)))
        a.info["time"] = k * DT_FS * ase.units.fs
        frames.append(a)
    return frames


def write_xyz(path, frames):
    import ase.io

    ase.io.write(str(path), frames, format="extxyz")
    return Path(path)


def xyz_to_nc(src, dst):
    """Convert with eqt's own reader and writer (what eqt-convert does)."""
    from eqt_analysis import io

    with io.open_writer(str(dst), "netcdf") as writer:
        for chunk in io.iter_trajectory(str(src)):
            writer.write(chunk)
    return Path(dst)


# ---------------------------------------------------------------------------- NetCDF-3 layout

def nc_layout(path):
    """{variable: (begin, bytes of one record (or of the whole variable), is_record)} and the
    record size, parsed from a NetCDF-3 (CDF-2) header."""
    data = Path(path).read_bytes()
    pos = 4

    def u32():
        nonlocal pos
        (v,) = struct.unpack_from(">I", data, pos)
        pos += 4
        return v

    def u64():
        nonlocal pos
        (v,) = struct.unpack_from(">Q", data, pos)
        pos += 8
        return v

    def name():
        nonlocal pos
        n = u32()
        s = data[pos:pos + n].decode()
        pos += -(-n // 4) * 4
        return s

    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8}

    def attrs():
        nonlocal pos
        u32()
        for _ in range(u32()):
            name()
            t = u32()
            n = u32()
            pos += -(-n * sizes[t] // 4) * 4

    assert data[:4] == b"CDF\x02", data[:4]
    u32()  # numrecs
    u32()
    dims = []
    for _ in range(u32()):
        name()
        dims.append(u32())
    attrs()
    u32()
    out = {}
    for _ in range(u32()):
        var = name()
        ids = [u32() for _ in range(u32())]
        attrs()
        t = u32()
        vsize = u32()
        begin = u64()
        is_record = bool(ids) and dims[ids[0]] == 0
        shape = [dims[i] for i in ids if dims[i] != 0 or not is_record]
        out[var] = dict(begin=begin, type=t, size=sizes[t], shape=shape, record=is_record, vsize=vsize)
    recsize = sum(v["vsize"] for v in out.values() if v["record"])
    return out, recsize, len(data)


# ---------------------------------------------------------------------------- text edits

def xyz_frames(text):
    """An xyz text as frames: [[count line, comment, atom lines...], ...]."""
    lines = text.splitlines()
    frames, i = [], 0
    while i < len(lines):
        n = int(lines[i])
        frames.append(lines[i:i + n + 2])
        i += n + 2
    return frames


def xyz_text(frames):
    return "".join(line + "\n" for frame in frames for line in frame)


def frame_starts(text):
    """Character offsets where each frame of an xyz text starts, and the text's length."""
    offsets, pos = [], 0
    for frame in xyz_frames(text):
        offsets.append(pos)
        pos += sum(len(line) + 1 for line in frame)
    return offsets + [pos]


def set_token(text, frame, atom, column, value):
    """Replace column `column` (0 species, 1-3 position, 4-6 momenta, 7-9 forces) of `atom`."""
    frames = xyz_frames(text)
    tokens = frames[frame][2 + atom].split()
    tokens[column] = value
    frames[frame][2 + atom] = " ".join(tokens)
    return xyz_text(frames)


def set_comment(text, frame, key, value):
    """Set key=value on the comment line of `frame` (value written as given, quotes included)."""
    import re

    frames = xyz_frames(text)
    comment = frames[frame][1]
    pattern = re.compile(rf'(?<!\S){key}=("[^"]*"|\S+)')
    assert pattern.search(comment), (key, comment)
    frames[frame][1] = pattern.sub(lambda m: f"{key}={value}", comment)
    return xyz_text(frames)


def nc_patch(data, layout, var, frame, index, value):
    """NetCDF bytes with element `index` (flat) of `var` in `frame` set to `value` (big endian,
    the variable's type); frame None for a fixed-size variable."""
    v = layout["vars"][var]
    offset = v["begin"] + (frame * layout["recsize"] if v["record"] else 0) + index * v["size"]
    fmt = {5: ">f", 6: ">d", 4: ">i", 1: ">b"}[v["type"]]
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def flip(data, offset, mask=0x01):
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


def header_offset(data, text):
    """Offset of the first occurrence of `text` (bytes) in a NetCDF header."""
    k = data.find(text)
    assert k >= 0, text
    return k


# ---------------------------------------------------------------------------- building

NONFINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}
ARRAYS = ("positions", "cell", "velocities", "forces", "energy", "conserved", "time")
BAD_FRAME = 3


def _psf(n_atoms, symbols):
    lines = ["PSF", "", "       1 !NTITLE", " REMARKS eqt fuzz", "", f"{n_atoms:8d} !NATOM"]
    for i in range(n_atoms):
        s = symbols[i % len(symbols)]
        lines.append(f"{i + 1:8d} MOL  1    WAT  {s:<4} {s:<4}  0.000000       {1.008 if s == 'H' else 15.999:9.4f}           0")
    lines += ["", "       0 !NBOND: bonds", ""]
    return "\n".join(lines) + "\n"


def build(root, hostile_models=None):
    """Write the corpus under `root`; return a Corpus. `hostile_models(tmp_dir)` -> [(name,
    path)] adds those model files (tests/hostile_models.py)."""
    import ase
    import ase.io

    root = Path(root)
    good = root / "valid"
    badd = root / "bad"
    good.mkdir(parents=True)
    badd.mkdir()
    valid, bad = {}, {}

    def add(name, kind, klass, content, suffix=None, **kw):
        path = badd / name
        if isinstance(content, str):
            path.write_bytes(content.encode())
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            content(path)
        bad[name] = BadFile(name, path, kind, klass, **kw)
        return path

    frames = water_frames()
    valid["traj.xyz"] = write_xyz(good / "traj.xyz", frames)
    valid["traj.nc"] = xyz_to_nc(valid["traj.xyz"], good / "traj.nc")
    valid["one.xyz"] = write_xyz(good / "one.xyz", frames[:1])
    valid["one.nc"] = xyz_to_nc(valid["one.xyz"], good / "one.nc")
    # i-PI property file: for eqt-tcf and eqt-rotvar --from-properties
    header = ("# column 1 --> step : The current simulation time step.\n"
              "# column 2 --> time{picosecond} : The elapsed simulation time.\n"
              "# column 3 --> potential{electronvolt} : The potential energy.\n"
              + "".join(f"# column {4 + k} --> pot_component_raw({k}){{electronvolt}} : component {k}.\n"
                        for k in range(6)))
    rng = np.random.default_rng(5)
    prop_rows = [[k, k * DT_FS * 1e-3, -0.1 * np.sin(k)] + list(-0.1 * np.sin(k) + 1e-3 * rng.normal(size=6) / (1 + np.arange(6)))
                 for k in range(40)]
    prop_lines = [" ".join(f"{x:.8g}" for x in row) for row in prop_rows]
    props_text = header + "".join(line + "\n" for line in prop_lines)
    valid["props.out"] = good / "props.out"
    valid["props.out"].write_text(props_text)
    # labelled structures for eqt-train / eval / rotvar: 3 small water clusters, no cell
    data_frames = []
    for k in range(3):
        f = water_frames(1, 2, 6.0, seed=10 + k, pbc=False)[0]
        del f.info["time"], f.info["step"], f.info["conserved_energy"]
        f.arrays.pop("momenta", None)
        data_frames.append(f)
    valid["data.xyz"] = write_xyz(good / "data.xyz", data_frames)
    data_text = valid["data.xyz"].read_text()
    model_bytes = MODEL.read_bytes()
    valid["model.pkl"] = good / "model.pkl"
    valid["model.pkl"].write_bytes(model_bytes)
    # topology with the right atom count (PDB) and a DCD trajectory MDAnalysis reads with it
    valid["top.pdb"] = good / "top.pdb"
    ase.io.write(str(valid["top.pdb"]), frames[0], format="proteindatabank")
    valid["traj.dcd"] = good / "traj.dcd"
    _write_dcd(valid["traj.dcd"], valid["top.pdb"], frames)
    # paths with spaces and non-ASCII letters (valid copies)
    odd = good / "my dir ☃"
    odd.mkdir()
    for key, name in (("traj.xyz", "wässer ☃.xyz"), ("traj.nc", "wässer ☃.nc"), ("props.out", "prop ☃ é.out"),
                      ("data.xyz", "dätä ☃.xyz"), ("model.pkl", "mödel ☃.pkl"), ("one.nc", "eins ☃.nc"),
                      ("one.xyz", "eins ☃.xyz")):
        valid["odd:" + key] = odd / name
        valid["odd:" + key].write_bytes(valid[key].read_bytes())

    nc_data = valid["traj.nc"].read_bytes()
    layout, recsize, nc_size = nc_layout(valid["traj.nc"])
    lay = {"vars": layout, "recsize": recsize, "size": nc_size}
    xyz = valid["traj.xyz"].read_text()
    n_atoms = len(frames[0])

    # ---- NaN/inf in every array, in .nc and .xyz
    nc_var = {"positions": ("coordinates", 3 * 5 + 1), "cell": ("cell", 4), "velocities": ("velocities", 7),
              "forces": ("forces", 8), "energy": ("potential_energy", 0), "conserved": ("conserved_energy", 0),
              "time": ("time", 0)}
    for array in ARRAYS:
        for label, value in NONFINITE.items():
            var, index = nc_var[array]
            add(f"{label}-{array}.nc", "traj", "NaN/inf in an array", nc_patch(nc_data, lay, var, BAD_FRAME, index, value),
                array=array)
            if array == "positions":
                text = set_token(xyz, BAD_FRAME, 5, 2, label)
            elif array == "velocities":
                text = set_token(xyz, BAD_FRAME, 5, 5, label)
            elif array == "forces":
                text = set_token(xyz, BAD_FRAME, 5, 8, label)
            elif array == "energy":
                text = set_comment(xyz, BAD_FRAME, "energy", label)
            elif array == "time":
                text = set_comment(xyz, BAD_FRAME, "time", label)
            elif array == "conserved":
                text = set_comment(xyz, BAD_FRAME, "conserved_energy", label)
            else:
                text = set_comment(xyz, BAD_FRAME, "Lattice", f'"{BOX} 0.0 0.0 0.0 {label} 0.0 0.0 0.0 {BOX}"')
            add(f"{label}-{array}.xyz", "traj", "NaN/inf in an array", text, array=array)
    # time running backwards / repeated: not finite-number damage, but a series commands cannot use
    # ---- coordinates far outside the cell; a digit flipped into an exponent (2e20)
    add("far-1e12.nc", "traj", "coordinates far outside the cell",
        nc_patch(nc_data, lay, "coordinates", BAD_FRAME, 3 * 7, 1e12), array="positions")
    add("far-1e12.xyz", "traj", "coordinates far outside the cell", set_token(xyz, BAD_FRAME, 7, 1, "1e12"),
        array="positions")
    add("far-neg-1e12.xyz", "traj", "coordinates far outside the cell",
        set_token(xyz, len(frames) - 1, n_atoms - 1, 3, "-1e12"), array="positions")
    add("far-1e20.nc", "traj", "coordinates far outside the cell",
        nc_patch(nc_data, lay, "coordinates", 0, 0, 2e20), array="positions")
    add("digit-2e20-pos.xyz", "traj", "flipped digit (2e20)", set_token(xyz, BAD_FRAME, 2, 1, "2e20"),
        array="positions")
    add("digit-2e20-mom.xyz", "traj", "flipped digit (2e20)", set_token(xyz, BAD_FRAME, 2, 4, "2e20"),
        array="velocities")
    add("digit-2e20-cell.xyz", "traj", "flipped digit (2e20)",
        set_comment(xyz, BAD_FRAME, "Lattice", f'"2e20 0.0 0.0 0.0 {BOX} 0.0 0.0 0.0 {BOX}"'), array="cell")
    add("velocity-2e20.nc", "traj", "flipped digit (2e20)",
        nc_patch(nc_data, lay, "velocities", BAD_FRAME, 4, 2e20), array="velocities")
    add("cell-2e20.nc", "traj", "flipped digit (2e20)", nc_patch(nc_data, lay, "cell", BAD_FRAME, 0, 2e20),
        array="cell")
    # ---- one frame (commands that need several)
    add("one-frame.nc", "traj", "one frame", valid["one.nc"].read_bytes(), commands="several_frames")
    add("one-frame.xyz", "traj", "one frame", valid["one.xyz"].read_text(), commands="several_frames")
    # ---- atom counts changing between frames
    fr = xyz_frames(xyz)
    fewer = [list(f) for f in fr]
    fewer[BAD_FRAME] = [str(n_atoms - 1), fewer[BAD_FRAME][1]] + fewer[BAD_FRAME][2:-1]
    add("atoms-fewer.xyz", "traj", "atom count changes", xyz_text(fewer))
    more = [list(f) for f in fr]
    more[BAD_FRAME] = [str(n_atoms + 1), more[BAD_FRAME][1]] + more[BAD_FRAME][2:] + [more[BAD_FRAME][2]]
    add("atoms-more.xyz", "traj", "atom count changes", xyz_text(more))
    swapped = [list(f) for f in fr]
    swapped[BAD_FRAME][2], swapped[BAD_FRAME][3] = swapped[BAD_FRAME][3], swapped[BAD_FRAME][2]
    add("atoms-reordered-species.xyz", "traj", "atom count changes", xyz_text(swapped))
    count_wrong = [list(f) for f in fr]
    count_wrong[BAD_FRAME][0] = str(n_atoms + 3)
    add("atoms-count-line.xyz", "traj", "atom count changes", xyz_text(count_wrong))
    # ---- degenerate cells
    zero = np.zeros(9)
    for label, cell in (("zero", zero), ("flat", np.diag([BOX, BOX, 0.0]).ravel()),
                        ("parallel", np.array([BOX, 0, 0, BOX, 0, 0, 0, 0, BOX], float)),
                        ("tiny", np.diag([BOX, BOX, 1e-9]).ravel())):
        data = nc_data
        for k in range(9):
            data = nc_patch(data, lay, "cell", BAD_FRAME, k, float(cell[k]))
        add(f"cell-{label}.nc", "traj", "degenerate cell", data, array="cell")
        add(f"cell-{label}.xyz", "traj", "degenerate cell",
            set_comment(xyz, BAD_FRAME, "Lattice", '"' + " ".join(f"{x:g}" for x in cell) + '"'), array="cell")
    # ---- empty trajectories
    add("empty.nc", "traj", "empty trajectory", b"")
    add("empty.xyz", "traj", "empty trajectory", b"")
    add("blank.xyz", "traj", "empty trajectory", "\n\n\n")
    zero_frames = bytearray(nc_data[:min(v["begin"] for v in layout.values() if v["record"])])
    struct.pack_into(">I", zero_frames, 4, 0)
    add("zero-frames.nc", "traj", "empty trajectory", bytes(zero_frames))
    add("zero-atoms.xyz", "traj", "empty trajectory",
        "".join(f'0\nLattice="{BOX} 0.0 0.0 0.0 {BOX} 0.0 0.0 0.0 {BOX}" Properties=species:S:1:pos:R:3 '
                f'time={k * 0.2} pbc="T T T"\n' for k in range(N_FRAMES)))
    add("header-only.xyz", "traj", "empty trajectory", "24\n")
    # ---- not a trajectory at all
    add("folder.nc", "traj", "not a trajectory", lambda p: p.mkdir())
    add("folder.xyz", "traj", "not a trajectory", lambda p: p.mkdir())
    add("random.nc", "traj", "not a trajectory", np.random.default_rng(1).bytes(3000))
    add("random.xyz", "traj", "not a trajectory", np.random.default_rng(2).bytes(3000))
    add("png.nc", "traj", "not a trajectory", b"\x89PNG\r\n\x1a\n" + bytes(200))
    add("text.nc", "traj", "not a trajectory", "hello, world\n")
    add("nul.xyz", "traj", "not a trajectory", b"\0" * 500)
    add("netcdf4-not-amber.nc", "traj", "not a trajectory", _netcdf4_other)
    add("amber-without-atomic-number.nc", "traj", "not a trajectory", lambda p: _amber_without_numbers(p, valid["traj.nc"]))
    # ---- non-water molecules where waters are expected
    for kind in ("CH4", "N2"):
        mol = molecule_frames(kind)
        path = add(f"{kind}.xyz", "traj", "non-water molecules", lambda p, m=mol: write_xyz(p, m), commands="waters")
        add(f"{kind}.nc", "traj", "non-water molecules", lambda p, s=path: xyz_to_nc(s, p), commands="waters")
    # ---- unknown species
    add("species-Xx.xyz", "traj", "unknown species", set_token(xyz, 0, 4, 0, "Xx"))
    add("species-Xx-later.xyz", "traj", "unknown species", set_token(xyz, BAD_FRAME, 4, 0, "Xx"))
    add("species-number-200.xyz", "traj", "unknown species", set_token(xyz, 0, 4, 0, "200"))
    for z in (-1, 119, 2**31 - 1):
        add(f"species-{z}.nc", "traj", "unknown species", nc_patch(nc_data, lay, "atomic_number", None, 4, z))
    # 0 is eqt's "no known element" (what MDAnalysis inputs without elements give): a warning, then
    # either a refusal or a result
    add("species-0.nc", "traj", "unknown species", nc_patch(nc_data, lay, "atomic_number", None, 4, 0), maybe_ok=True)
    # ---- text encodings
    add("crlf.xyz", "traj", "CRLF / UTF-16 text", xyz.replace("\n", "\r\n"), maybe_ok=True)
    add("utf16.xyz", "traj", "CRLF / UTF-16 text", xyz.encode("utf-16"))
    add("utf16-le.xyz", "traj", "CRLF / UTF-16 text", xyz.encode("utf-16-le"))
    add("utf16-crlf.xyz", "traj", "CRLF / UTF-16 text", xyz.replace("\n", "\r\n").encode("utf-16"))
    add("latin1-name.xyz", "traj", "CRLF / UTF-16 text", set_token(xyz, 0, 4, 0, "\xd8").encode("latin-1"))
    # ---- truncated xyz (a few fixed cuts; hypothesis draws many more)
    starts = frame_starts(xyz)
    for label, cut in (("mid-number", starts[2] + 100), ("mid-line", starts[4] + 60),
                       ("line-boundary", starts[3] + len(xyz_frames(xyz)[3][0]) + 1 + len(xyz_frames(xyz)[3][1]) + 1),
                       ("no-final-newline", len(xyz) - 1), ("after-count-line", starts[5] + 3)):
        add(f"truncated-{label}.xyz", "traj", "truncated text", xyz[:cut])
    # ---- truncated NetCDF (fixed cuts)
    first_record = min(v["begin"] for v in layout.values() if v["record"])
    for label, cut in (("magic", 3), ("header", 100), ("header-end", first_record - 600),
                       ("fixed-data", first_record - 2), ("first-record", first_record + 10),
                       ("mid", nc_size // 2 + 7), ("last-byte", nc_size - 1)):
        add(f"truncated-{label}.nc", "traj", "truncated NetCDF", nc_data[:cut])
    # ---- bit flips in the NetCDF header whose outcome is known (refused)
    flips = {
        "magic": (0, 0x20),  # CDF -> cDF
        "version": (3, 0x04),  # CDF\x02 -> \x06
        "numrecs": (7, 0x40),  # 12 -> 76 frames declared: the file is too short
        "atom-dim": (header_offset(nc_data, b"atom\x00") + 7, 0x08),  # 24 -> 16 atoms: variables overlap
        "coordinates-name": (header_offset(nc_data, b"coordinates"), 0x01),
        "atomic-number-name": (header_offset(nc_data, b"atomic_number"), 0x20),
        "conventions": (header_offset(nc_data, b"AMBER"), 0x20),
        "coordinates-units": (header_offset(nc_data, b"angstrom"), 0x02),
        "coordinates-begin": (_begin_offset(nc_data, layout, "coordinates") + 5, 0x40),
    }
    for label, (offset, mask) in flips.items():
        add(f"bitflip-{label}.nc", "traj", "bit-flipped NetCDF", flip(nc_data, offset, mask))
    # ---- paths with spaces and non-ASCII letters: a bad file under such a name
    oddbad = badd / "bad dir ☃"
    oddbad.mkdir()
    for name, src in (("nan ☃ wässer.xyz", "nan-positions.xyz"), ("nan ☃ wässer.nc", "nan-positions.nc")):
        (oddbad / name).write_bytes((badd / src).read_bytes())
        bad["odd:" + name] = BadFile("odd:" + name, oddbad / name, "traj", "paths with spaces / non-ASCII", array="positions")
    # ---- mismatched topologies (--topology)
    for fmt_name, writer in (("pdb", "proteindatabank"), ("gro", "gromacs")):
        for n in (5, n_atoms + 6):
            atoms = frames[0].copy()[:n] if n <= n_atoms else frames[0].copy() + frames[0].copy()[:n - n_atoms]
            for partner in ("traj.nc", "traj.dcd", "traj.xyz"):
                add(f"top-{n}-atoms-{partner.split('.')[1]}.{fmt_name}", "topology", "mismatched topology",
                    lambda p, a=atoms, w=writer: ase.io.write(str(p), a, format=w), pair={"traj": partner})
    symbols = ["O", "H", "H"]
    for n in (5, n_atoms + 6):
        for partner in ("traj.nc", "traj.dcd"):
            add(f"top-{n}-atoms-{partner.split('.')[1]}.psf", "topology", "mismatched topology",
                _psf(n, symbols), pair={"traj": partner})
    add("top-garbage.pdb", "topology", "mismatched topology", np.random.default_rng(3).bytes(800),
        pair={"traj": "traj.dcd"})
    add("top-empty.pdb", "topology", "mismatched topology", b"", pair={"traj": "traj.dcd"})
    add("top-utf16.pdb", "topology", "mismatched topology", valid["top.pdb"].read_text().encode("utf-16"),
        pair={"traj": "traj.dcd"})

    # ---- analysis results (eqt-compare, eqt-plot): made by eqt-rdf / eqt-msd from traj.nc
    _results(add, valid, bad, badd, oddbad)

    # ---- single structures (eqt-md, eqt-driver: one frame of any trajectory format): the damage
    # is in that frame (the damaged frames of the trajectories above are not the one they read)
    _structures(add, valid, bad, badd, oddbad)

    # ---- i-PI property files (eqt-tcf, eqt-rotvar --from-properties)
    def rows_text(rows):
        return header + "".join(line + "\n" for line in rows)

    for label in NONFINITE:
        for col in (2, 5):
            rows = list(prop_lines)
            tok = rows[7].split()
            tok[col] = label
            rows[7] = " ".join(tok)
            add(f"props-{label}-col{col}.out", "series", "NaN/inf in an array", rows_text(rows),
                array="energy")
    rows = list(prop_lines)
    tok = rows[9].split()
    tok[1] = "inf"
    rows[9] = " ".join(tok)
    add("props-inf-time.out", "series", "NaN/inf in an array", rows_text(rows), array="time")
    add("props-header-only.out", "series", "empty trajectory", header)
    add("props-empty.out", "series", "empty trajectory", "")
    add("props-one-row.out", "series", "one frame", rows_text(prop_lines[:1]), commands="several_frames")
    add("props-no-header.out", "series", "not a trajectory", "".join(line + "\n" for line in prop_lines))
    add("props-short-row.out", "series", "truncated text", rows_text(prop_lines[:10] + [" ".join(prop_lines[10].split()[:4])] + prop_lines[11:]))
    add("props-truncated.out", "series", "truncated text", rows_text(prop_lines)[:-25])
    add("props-word.out", "series", "malformed text", rows_text(prop_lines[:5] + ["1 2 three 4 5 6 7 8 9"] + prop_lines[6:]))
    add("props-utf16.out", "series", "CRLF / UTF-16 text", rows_text(prop_lines).encode("utf-16"))
    add("props-crlf.out", "series", "CRLF / UTF-16 text", rows_text(prop_lines).replace("\n", "\r\n"), maybe_ok=True)
    add("props-folder.out", "series", "not a trajectory", lambda p: p.mkdir())
    add("props-binary.out", "series", "not a trajectory", np.random.default_rng(4).bytes(2000))
    (oddbad / "prop ☃ nan.out").write_bytes((badd / "props-nan-col2.out").read_bytes())
    bad["odd:prop ☃ nan.out"] = BadFile("odd:prop ☃ nan.out", oddbad / "prop ☃ nan.out", "series",
                                        "paths with spaces / non-ASCII", array="energy")

    # ---- labelled structures (eqt-train, eqt-eval, eqt-rotvar)
    dfr = xyz_frames(data_text)

    def data_token(frame, atom, column, value):
        frames_ = [list(f) for f in dfr]
        tok = frames_[frame][2 + atom].split()
        tok[column] = value
        frames_[frame][2 + atom] = " ".join(tok)
        return xyz_text(frames_)

    def data_comment(frame, key, value):
        return set_comment(data_text, frame, key, value)

    for label in NONFINITE:
        add(f"data-{label}-positions.xyz", "data", "NaN/inf in an array", data_token(1, 2, 2, label), array="positions")
        add(f"data-{label}-forces.xyz", "data", "NaN/inf in an array", data_token(1, 2, 5, label), array="forces",
            commands=("eqt-train", "eqt-eval", "eqt-rotvar"))
        add(f"data-{label}-energy.xyz", "data", "NaN/inf in an array", data_comment(2, "energy", label), array="energy")
    add("data-far-1e12.xyz", "data", "coordinates far outside the cell", data_token(1, 1, 1, "1e12"), array="positions")
    add("data-2e20.xyz", "data", "flipped digit (2e20)", data_token(0, 0, 3, "2e20"), array="positions")
    add("data-Xx.xyz", "data", "unknown species", data_token(1, 0, 0, "Xx"))
    add("data-Cl.xyz", "data", "unknown species", data_token(1, 0, 0, "Cl"),
        commands=("eqt-eval", "eqt-rotvar", "eqt-opt"))
    add("data-empty.xyz", "data", "empty trajectory", b"")
    add("data-zero-atoms.xyz", "data", "empty trajectory", "0\nProperties=species:S:1:pos:R:3 energy=1.0 pbc=\"F F F\"\n")
    add("data-truncated.xyz", "data", "truncated text", data_text[:len(data_text) // 2])
    add("data-no-newline.xyz", "data", "truncated text", data_text[:-1])
    add("data-utf16.xyz", "data", "CRLF / UTF-16 text", data_text.encode("utf-16"))
    add("data-crlf.xyz", "data", "CRLF / UTF-16 text", data_text.replace("\n", "\r\n"), maybe_ok=True,
        commands=("eqt-eval", "eqt-rotvar", "eqt-opt"))
    add("data-folder.xyz", "data", "not a trajectory", lambda p: p.mkdir())
    add("data-random.xyz", "data", "not a trajectory", np.random.default_rng(6).bytes(2000))
    nolabel = "".join(line + "\n" for f in dfr for line in
                      [f[0], f[1].replace(" energy=", " e_other=")] + f[2:])
    add("data-no-energy.xyz", "data", "missing labels", nolabel, commands=("eqt-train", "eqt-eval"))
    periodic = [list(f) for f in dfr]
    periodic[1][1] = 'Lattice="0 0 0 0 0 0 0 0 0" ' + periodic[1][1].replace('pbc="F F F"', 'pbc="T T T"')
    add("data-zero-cell.xyz", "data", "degenerate cell", xyz_text(periodic), array="cell")
    huge = [list(f) for f in dfr]  # a cell of 1e9 Å: ASE's neighbour search would ask for exabytes
    huge[1][1] = 'Lattice="1e9 0 0 0 1e9 0 0 0 1e9" ' + huge[1][1].replace('pbc="F F F"', 'pbc="T T T"')
    add("data-cell-1e9.xyz", "data", "flipped digit (2e20)", xyz_text(huge), array="cell")
    same = [list(f) for f in dfr]  # a hydrogen exactly on its oxygen: the model's forces are NaN there
    tokens = same[1][2 + 1].split()
    tokens[1:4] = same[1][2].split()[1:4]
    same[1][2 + 1] = " ".join(tokens)
    add("data-same-place.xyz", "data", "overlapping atoms", xyz_text(same))
    (oddbad / "dätä ☃ nan.xyz").write_bytes((badd / "data-nan-positions.xyz").read_bytes())
    bad["odd:dätä ☃ nan.xyz"] = BadFile("odd:dätä ☃ nan.xyz", oddbad / "dätä ☃ nan.xyz", "data",
                                        "paths with spaces / non-ASCII", array="positions")

    # ---- hostile model files
    if hostile_models is not None:
        folder = badd / "models"
        folder.mkdir()
        for name, path in hostile_models(folder):
            key = "model:" + name
            bad[key] = BadFile(key, Path(path), "model", "hostile model file")
    (oddbad / "mödel ☃ cut.pkl").write_bytes(model_bytes[:1000])
    bad["odd:mödel ☃ cut.pkl"] = BadFile("odd:mödel ☃ cut.pkl", oddbad / "mödel ☃ cut.pkl", "model",
                                         "paths with spaces / non-ASCII")
    for name, blob in (("model-truncated.pkl", model_bytes[:len(model_bytes) // 3]), ("model-empty.pkl", b""),
                       ("model-text.pkl", b"not a pickle\n"), ("model-folder.pkl", None)):
        add(name, "model", "hostile model file", blob if blob is not None else (lambda p: p.mkdir()))

    return Corpus(root, valid, bad, {**lay, "bytes": nc_data, "xyz": xyz, "data_text": data_text,
                                     "props_text": props_text, "model_bytes": model_bytes,
                                     "first_record": first_record})



def _structures(add, valid, bad, badd, oddbad):
    """Bad one-frame structures (kind 'structure'), made from valid['one.nc'] / valid['one.xyz']
    (8 waters with velocities in a 13 Å box; atom 5 is a hydrogen)."""
    nc1 = valid["one.nc"].read_bytes()
    layout, recsize, size = nc_layout(valid["one.nc"])
    lay1 = {"vars": layout, "recsize": recsize, "size": size}
    xyz1 = valid["one.xyz"].read_text()
    n_atoms = int(xyz1.split("\n", 1)[0])

    def lattice(cell):
        return '"' + " ".join(f"{x:g}" for x in cell) + '"'

    nc_index = {"positions": ("coordinates", 3 * 5 + 1), "cell": ("cell", 4), "velocities": ("velocities", 7)}
    xyz_column = {"positions": 2, "velocities": 5}
    for array, (var, index) in nc_index.items():
        for label, value in NONFINITE.items():
            add(f"one-{label}-{array}.nc", "structure", "NaN/inf in an array",
                nc_patch(nc1, lay1, var, 0, index, value), array=array)
            text = (set_token(xyz1, 0, 5, xyz_column[array], label) if array in xyz_column else
                    set_comment(xyz1, 0, "Lattice", f'"{BOX} 0.0 0.0 0.0 {label} 0.0 0.0 0.0 {BOX}"'))
            add(f"one-{label}-{array}.xyz", "structure", "NaN/inf in an array", text, array=array)
    add("one-2e20-positions.xyz", "structure", "flipped digit (2e20)", set_token(xyz1, 0, 2, 1, "2e20"),
        array="positions")
    add("one-2e20-velocities.nc", "structure", "flipped digit (2e20)", nc_patch(nc1, lay1, "velocities", 0, 4, 2e20),
        array="velocities")
    add("one-2e20-cell.xyz", "structure", "flipped digit (2e20)",
        set_comment(xyz1, 0, "Lattice", f'"2e20 0.0 0.0 0.0 {BOX} 0.0 0.0 0.0 {BOX}"'), array="cell")
    add("one-far-1e12.nc", "structure", "coordinates far outside the cell",
        nc_patch(nc1, lay1, "coordinates", 0, 3 * 7, 1e12), array="positions")
    add("one-far-1e12.xyz", "structure", "coordinates far outside the cell", set_token(xyz1, 0, 7, 1, "1e12"),
        array="positions")
    for label, cell in (("zero", np.zeros(9)), ("flat", np.diag([BOX, BOX, 0.0]).ravel()),
                        ("parallel", np.array([BOX, 0, 0, BOX, 0, 0, 0, 0, BOX], float)),
                        ("tiny", np.diag([BOX, BOX, 1e-9]).ravel())):
        data = nc1
        for k in range(9):
            data = nc_patch(data, lay1, "cell", 0, k, float(cell[k]))
        add(f"one-cell-{label}.nc", "structure", "degenerate cell", data, array="cell")
        add(f"one-cell-{label}.xyz", "structure", "degenerate cell", set_comment(xyz1, 0, "Lattice", lattice(cell)),
            array="cell")
    # atoms on top of each other: what the dynamics cannot start from (eqt-driver takes only the
    # species and the periodicity from its STRUCTURE: the server sends the positions)
    frames = xyz_frames(xyz1)
    tokens = frames[0][2 + 3].split()  # the oxygen of the second water onto the first one, 0.1 Å away
    tokens[1:4] = [f"{float(x) + 0.1:.8f}" for x in frames[0][2].split()[1:4]]
    frames[0][2 + 3] = " ".join(tokens)
    add("one-overlap.xyz", "structure", "overlapping atoms", xyz_text(frames), commands=("eqt-md",))
    same = xyz_frames(xyz1)
    tokens = same[0][2 + 1].split()  # a hydrogen exactly on its oxygen
    tokens[1:4] = same[0][2].split()[1:4]
    same[0][2 + 1] = " ".join(tokens)
    add("one-same-place.xyz", "structure", "overlapping atoms", xyz_text(same), commands=("eqt-md",))
    # species the example model (H, O) does not know, and no element at all
    add("one-species-C.xyz", "structure", "unknown species", set_token(xyz1, 0, 3, 0, "C"))
    add("one-species-Xx.xyz", "structure", "unknown species", set_token(xyz1, 0, 4, 0, "Xx"))
    for z in (0, 6, 119):
        add(f"one-species-{z}.nc", "structure", "unknown species", nc_patch(nc1, lay1, "atomic_number", None, 4, z))
    # empty, not a structure, text encodings, cut files
    add("one-empty.nc", "structure", "empty trajectory", b"")
    add("one-empty.xyz", "structure", "empty trajectory", b"")
    add("one-zero-atoms.xyz", "structure", "empty trajectory",
        f'0\nLattice="{BOX} 0.0 0.0 0.0 {BOX} 0.0 0.0 0.0 {BOX}" Properties=species:S:1:pos:R:3 pbc="T T T"\n')
    add("one-header-only.xyz", "structure", "empty trajectory", f"{n_atoms}\n")
    zero_frames = bytearray(nc1[:min(v["begin"] for v in layout.values() if v["record"])])
    struct.pack_into(">I", zero_frames, 4, 0)
    add("one-zero-frames.nc", "structure", "empty trajectory", bytes(zero_frames))
    add("one-folder.nc", "structure", "not a trajectory", lambda p: p.mkdir())
    add("one-random.nc", "structure", "not a trajectory", np.random.default_rng(7).bytes(3000))
    add("one-random.xyz", "structure", "not a trajectory", np.random.default_rng(8).bytes(3000))
    add("one-text.nc", "structure", "not a trajectory", "hello, world\n")
    add("one-netcdf4-not-amber.nc", "structure", "not a trajectory", _netcdf4_other)
    add("one-amber-without-atomic-number.nc", "structure", "not a trajectory",
        lambda p: _amber_without_numbers(p, valid["one.nc"]))
    add("one-utf16.xyz", "structure", "CRLF / UTF-16 text", xyz1.encode("utf-16"))
    add("one-latin1-name.xyz", "structure", "CRLF / UTF-16 text", set_token(xyz1, 0, 4, 0, "\xd8").encode("latin-1"))
    first_record = min(v["begin"] for v in layout.values() if v["record"])
    for label, cut in (("header", 100), ("fixed-data", first_record - 2), ("first-record", first_record + 10),
                       ("last-byte", size - 1)):
        add(f"one-truncated-{label}.nc", "structure", "truncated NetCDF", nc1[:cut])
    start = len(frames[0][0]) + 1 + len(frames[0][1]) + 1
    for label, cut in (("mid-number", start + 200), ("mid-line", start + 40 * (n_atoms // 2)),
                       ("no-final-newline", len(xyz1) - 1), ("after-count-line", len(frames[0][0]) + 1)):
        add(f"one-truncated-{label}.xyz", "structure", "truncated text", xyz1[:cut])
    for label, (offset, mask) in {"magic": (0, 0x20), "numrecs": (7, 0x40),
                                  "coordinates-name": (header_offset(nc1, b"coordinates"), 0x01)}.items():
        add(f"one-bitflip-{label}.nc", "structure", "bit-flipped NetCDF", flip(nc1, offset, mask))
    name = "eins ☃ nan.xyz"
    (oddbad / name).write_bytes((badd / "one-nan-positions.xyz").read_bytes())
    bad["odd:" + name] = BadFile("odd:" + name, oddbad / name, "structure", "paths with spaces / non-ASCII",
                                 array="positions")


RESULT_COMMANDS = ("eqt-compare", "eqt-plot")


def run_command(module, argv):
    """Run eqt_cli.<module>'s command in process (click's CliRunner); the result must be exit 0."""
    import importlib

    from click.testing import CliRunner

    main = importlib.import_module(f"eqt_cli.{module}").main
    result = CliRunner().invoke(main, [str(a) for a in argv], catch_exceptions=False)
    assert result.exit_code == 0, (module, argv, result.output)


def _results(add, valid, bad, badd, oddbad):
    """Analysis results (kind 'result'): valid['rdf.nc'] and valid['rdf-b.nc'] are eqt-rdf results
    of traj.nc (all 12 frames, the first 10: the same grids, different samples), valid['msd.nc'] an
    eqt-msd one; the bad ones are damaged copies of rdf.nc (NetCDF-4/HDF5, 3 pairs x 20 bins)."""
    import xarray as xr

    good = valid["traj.nc"].parent
    rdf = ["--rmax", "4", "--bins", "20", "-q"]
    valid["rdf.nc"] = good / "rdf.nc"
    run_command("rdf", [valid["traj.nc"], *rdf, "-o", valid["rdf.nc"]])
    valid["rdf-b.nc"] = good / "rdf-b.nc"
    run_command("rdf", [valid["traj.nc"], *rdf, "--stop", "10", "-o", valid["rdf-b.nc"]])
    valid["msd.nc"] = good / "msd.nc"
    run_command("msd", [valid["traj.nc"], "--blocks", "2", "-q", "-o", valid["msd.nc"]])
    valid["odd:rdf.nc"] = good / "my dir ☃" / "rdf ☃ é.nc"
    valid["odd:rdf.nc"].write_bytes(valid["rdf.nc"].read_bytes())
    data = valid["rdf.nc"].read_bytes()
    base = xr.load_dataset(valid["rdf.nc"])

    def edited(edit):
        def write(path):
            ds = base.copy(deep=True)
            out = edit(ds)  # a new Dataset, or None (ds edited in place)
            ds = out if isinstance(out, xr.Dataset) else ds
            for var in ds.variables.values():
                var.encoding = {}  # the source's chunking does not fit an edited shape
            ds.to_netcdf(path)
        return write

    def setitem(var, index, value):
        def edit(ds):
            values = ds[var].values.copy()
            values[index] = value
            return ds.assign_coords({var: ds[var].copy(data=values)}) if var in ds.coords else \
                ds.assign({var: ds[var].copy(data=values)})
        return edit

    # ---- numbers: eqt-compare leaves non-finite points out (documented), eqt-plot draws gaps
    g_peak = (0, int(np.argmax(base["g"].values[0])))  # O-O, the first peak
    for label, value in NONFINITE.items():
        add(f"result-{label}-g.nc", "result", "NaN/inf in an array", edited(setitem("g", g_peak, value)),
            maybe_ok=True, array="g")
        add(f"result-{label}-g_err.nc", "result", "NaN/inf in an array", edited(setitem("g_err", g_peak, value)),
            maybe_ok=True, array="g_err")
    add("result-nan-all.nc", "result", "NaN/inf in an array",
        edited(lambda ds: ds.assign({k: ds[k].copy(data=np.full(ds[k].shape, np.nan))
                                     for k in ds.data_vars if ds[k].dtype.kind == "f"})), maybe_ok=True,
        array="g")
    add("result-nan-r.nc", "result", "NaN/inf in an array", edited(setitem("r", 4, np.nan)), array="r",
        commands=("eqt-compare",))  # a coordinate: the grids differ
    add("result-2e20-g.nc", "result", "flipped digit (2e20)", edited(setitem("g", g_peak, 2e20)), maybe_ok=True,
        array="g")
    # ---- not a result at all
    add("result-empty.nc", "result", "not an eqt result", b"")
    add("result-text.nc", "result", "not an eqt result", "g(r) = 1\n")
    add("result-folder.nc", "result", "not an eqt result", lambda p: p.mkdir())
    add("result-random.nc", "result", "not an eqt result", np.random.default_rng(9).bytes(3000))
    add("result-png.nc", "result", "not an eqt result", b"\x89PNG\r\n\x1a\n" + bytes(200))
    add("result-netcdf4-other.nc", "result", "not an eqt result", _netcdf4_other)
    add("result-no-result-type.nc", "result", "not an eqt result",
        edited(lambda ds: ds.attrs.pop("result_type")))
    # eqt-plot draws eqt MD trajectories too: a trajectory is bad input only to eqt-compare
    add("result-trajectory.nc", "result", "not an eqt result", valid["traj.nc"].read_bytes(),
        commands=("eqt-compare",))
    add("result-one-structure.nc", "result", "not an eqt result", valid["one.nc"].read_bytes(),
        commands=("eqt-compare",))
    # ---- results of another type, or on other grids, or in other units
    add("result-msd.nc", "result", "result of another type", valid["msd.nc"].read_bytes())
    add("result-type-bogus.nc", "result", "result of another type",
        edited(lambda ds: ds.attrs.update(result_type="frobnicate")))
    add("result-type-as-msd.nc", "result", "result of another type",
        edited(lambda ds: ds.attrs.update(result_type="msd")))
    add("result-comparison.nc", "result", "result of another type",
        lambda p: run_command("compare", [valid["rdf.nc"], valid["rdf-b.nc"], "-o", p]))
    add("result-other-bins.nc", "result", "result of another type",
        lambda p: run_command("rdf", [valid["traj.nc"], "--rmax", "4", "--bins", "10", "-q", "-o", p]),
        commands=("eqt-compare",))  # overlaid, two grids are fine
    add("result-other-pairs.nc", "result", "result of another type",
        lambda p: run_command("rdf", [valid["traj.nc"], "--rmax", "4", "--bins", "20", "--pairs", "O-O", "-q",
                                      "-o", p]), commands=("eqt-compare",))
    add("result-r-in-nm.nc", "result", "result of another type",
        edited(lambda ds: ds.assign_coords(r=ds["r"].assign_attrs(units="nanometer"))), commands=("eqt-compare",))
    add("result-g-units.nc", "result", "result of another type",
        edited(lambda ds: [ds[k].attrs.update(units="angstrom^-3") for k in ("g", "g_err")]),
        commands=("eqt-compare",))
    # ---- incomplete results: a variable, a coordinate, the units missing; no bins
    add("result-no-g.nc", "result", "incomplete result", edited(lambda ds: ds.drop_vars(["g", "g_err"])),
        commands=("eqt-plot",))  # eqt-compare compares what both hold
    add("result-no-pair.nc", "result", "incomplete result", edited(lambda ds: ds.drop_vars("pair")))
    add("result-no-r.nc", "result", "incomplete result", edited(lambda ds: ds.drop_vars(["r", "r_upper"])))
    add("result-no-r-units.nc", "result", "incomplete result",
        edited(lambda ds: ds["r"].attrs.pop("units")), commands=("eqt-compare",))
    add("result-no-bins.nc", "result", "incomplete result", edited(lambda ds: ds.isel(r=slice(0, 0))))
    add("result-attributes-only.nc", "result", "incomplete result",
        lambda p: xr.Dataset(attrs=dict(base.attrs)).to_netcdf(p, format="NETCDF3_64BIT"))
    # ---- damaged NetCDF-4 (HDF5) bytes
    for label, cut in (("magic", 4), ("superblock", 60), ("half", len(data) // 2), ("last-byte", len(data) - 1)):
        add(f"result-truncated-{label}.nc", "result", "truncated NetCDF", data[:cut])
    add("result-bitflip-magic.nc", "result", "bit-flipped NetCDF", flip(data, 1, 0x20))
    add("result-bitflip-superblock.nc", "result", "bit-flipped NetCDF", flip(data, 9, 0x10))
    name = "rdf ☃ cut.nc"
    (oddbad / name).write_bytes(data[:len(data) // 2])
    bad["odd:" + name] = BadFile("odd:" + name, oddbad / name, "result", "paths with spaces / non-ASCII")


def _begin_offset(data, layout, var):
    """Offset in the header of the 8-byte `begin` field of `var` (CDF-2)."""
    begin = struct.pack(">Q", layout[var]["begin"])
    name = data.find(var.encode())
    k = data.find(begin, name)
    assert k > 0
    return k


def _netcdf4_other(path):
    import netCDF4

    with netCDF4.Dataset(str(path), "w") as nc:
        nc.createDimension("x", 3)
        nc.createVariable("temperature", "f4", ("x",))[:] = [1, 2, 3]


def _amber_without_numbers(path, src):
    """An AMBER NetCDF file (Conventions, coordinates) without eqt's atomic_number."""
    import netCDF4

    with netCDF4.Dataset(str(src)) as a, netCDF4.Dataset(str(path), "w", format="NETCDF3_64BIT_OFFSET") as b:
        b.setncatts({k: a.getncattr(k) for k in a.ncattrs()})
        for name, dim in a.dimensions.items():
            b.createDimension(name, None if dim.isunlimited() else len(dim))
        for name, var in a.variables.items():
            if name == "atomic_number":
                continue
            out = b.createVariable(name, var.dtype, var.dimensions)
            out.setncatts({k: var.getncattr(k) for k in var.ncattrs()})
            var.set_auto_maskandscale(False)
            out.set_auto_maskandscale(False)
            out[:] = var[:]


def _write_dcd(path, pdb, frames):
    import warnings

    import MDAnalysis as mda

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(str(pdb))
        with mda.Writer(str(path), u.atoms.n_atoms) as w:
            for k, atoms in enumerate(frames):
                u.atoms.positions = atoms.positions
                u.dimensions = [BOX, BOX, BOX, 90, 90, 90]
                w.write(u.atoms)
