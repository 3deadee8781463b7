"""eqt trajectories on disk: AMBER NetCDF trajectory convention 1.0, NetCDF-3 64-bit offset.

Convention variables keep their names and units, so MDAnalysis, MDTraj, cpptraj and VMD
read the files unchanged: `coordinates` (Å), `time` (ps), `velocities` (Å/ps), `forces`
(kcal/mol/Å), `cell_lengths` (Å), `cell_angles` (degrees). eqt adds `cell` (full 3x3 matrix,
Å, rows = lattice vectors; exact for any cell orientation), `pbc`, `atomic_number`, `mass`
(Da), `molecule`, `step`, and any per-frame or per-atom series, each with `units`.

Other tools see only lengths and angles, i.e. the cell in the standard orientation (a along
x, b in the xy plane); when an input cell is not in that orientation eqt warns, since those
tools would then pair the unrotated coordinates with a rotated cell.

Reading checks every number (`trajectory.validate`): chunks when they are read, and the
per-atom arrays of a lazy Dataset (`open_lazy`) slab by slab as they are read. A NetCDF-3
file shorter than its header says (a cut copy: the NetCDF library would read the missing
bytes as zeros) is refused: its header declares the number of frames (numrecs), and every
declared frame must be complete on disk. numrecs = STREAMING (-1) is legal: the frames are
then those that fit in the file.
"""
import collections
import mmap
import os
import struct

import numpy as np
import xarray as xr
import netCDF4
from xarray.backends import BackendArray
from xarray.core import indexing

from .. import __version__
from .. import cell as cellmod
from .. import trajectory as traj
from .. import units
from ..errors import InputError

FRAME_FLOAT = ("coordinates", "velocities", "forces")
# in-memory name -> (disk name, disk units, AMBER scale_factor written by eqt)
# Forces are stored as eV/Å numbers with scale_factor = (kcal/mol)/eV, which AMBER readers
# (MDAnalysis included) multiply in to get kcal/mol/Å; eqt reads the raw numbers, so float64
# files round-trip exactly.
CONVERTED = {
    "positions": ("coordinates", "angstrom", None),
    "velocities": ("velocities", "angstrom/picosecond", None),
    "forces": ("forces", "kilocalorie/mole/angstrom", 1.0 / units.KCAL_MOL),
}
LABEL_DIMS = ("spatial", "cell_spatial", "cell_angular", "label")


class NetCDFWriter:
    """Append trajectory chunks to an AMBER NetCDF file, flushing after each.

    The first chunk fixes the schema (atoms, variables); later chunks must match it.
    `float64=True` stores coordinates, velocities and forces in double precision
    (exact round trip); the default float32 follows the AMBER convention. `append_at=n`
    continues an existing file written by this class after its first n frames (later frames
    are overwritten), with the same variables.
    """

    def __init__(self, path, float64=False, title="", history="", append_at=None):
        self.path = str(path)
        self.float64 = float64
        self.title = title
        self.history = history
        self._nc = None
        self._names = None
        self._n = 0
        self._append_at = append_at
        self._warned_orientation = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._nc is not None:
            self._nc.close()
            self._nc = None

    def write(self, ds):
        """Append the frames of one trajectory chunk (an eqt Dataset)."""
        if self._nc is None and self._append_at is not None:
            self._nc = netCDF4.Dataset(self.path, "a")
            self._nc.set_auto_scale(False)  # as _create: forces are stored as eV/Å with an AMBER scale_factor
            self._names = set(ds.variables) - {"spatial", "cell_vector"}
            self._n = self._append_at
        elif self._nc is None:
            self._create(ds)
        names = set(ds.variables) - {"spatial", "cell_vector"}
        if names != self._names:
            raise InputError(f"chunk variables {sorted(names ^ self._names)} differ from the first chunk", self.path)
        nc, lo = self._nc, self._n
        hi = lo + ds.sizes["frame"]
        for name, (disk, _, _) in CONVERTED.items():
            if name in ds:
                nc[disk][lo:hi] = ds[name].values
        if "cell" in ds:
            cells = ds["cell"].values
            lengths, angles = cellmod.lengths_angles(cells)
            if not (self._warned_orientation or _standard_orientation(cells).all()):
                self._warned_orientation = True
                traj.warn("cell is not in the standard orientation (a along +x, b in the xy plane with b_y > 0, "
                          "c_z > 0); tools that read only cell_lengths/cell_angles will see a rotated or mirrored cell")
            nc["cell"][lo:hi] = cells
            nc["cell_lengths"][lo:hi] = lengths
            nc["cell_angles"][lo:hi] = angles
        for name in ds.variables:
            if name in CONVERTED or name == "cell" or "frame" not in ds[name].dims:
                continue
            values = ds[name].values
            if values.dtype.kind in "iu" and values.size and not (INT32.min <= values.min() and values.max() <= INT32.max):
                raise InputError(f"{name} {values.max() if values.max() > INT32.max else values.min()} does not fit the "
                                 "32-bit integers of NetCDF-3", self.path)
            nc[name][lo:hi] = values
        self._n = hi
        nc.sync()

    def _create(self, ds):
        nc = netCDF4.Dataset(self.path, "w", format="NETCDF3_64BIT_OFFSET")
        self._nc = nc
        self._names = set(ds.variables) - {"spatial", "cell_vector"}
        nc.Conventions = "AMBER"
        nc.ConventionVersion = "1.0"
        nc.program = "eqt"
        nc.programVersion = __version__
        nc.application = "eqt"
        nc.title = self.title
        if self.history:
            nc.history = self.history
        nc.createDimension("frame", None)
        nc.createDimension("spatial", 3)
        nc.createDimension("atom", ds.sizes["atom"])
        nc.createDimension("cell_spatial", 3)
        nc.createDimension("cell_angular", 3)
        nc.createDimension("label", 5)
        nc.createDimension("cell_vector", 3)
        nc.createVariable("spatial", "S1", ("spatial",))[:] = np.array(list("xyz"), "S1")
        nc.createVariable("cell_spatial", "S1", ("cell_spatial",))[:] = np.array(list("abc"), "S1")
        labels = nc.createVariable("cell_angular", "S1", ("cell_angular", "label"))
        labels[:] = np.array([list(s.ljust(5)) for s in ("alpha", "beta", "gamma")], "S1")
        ftype = "f8" if self.float64 else "f4"
        for name, (disk, unit, scale) in CONVERTED.items():
            if name in ds:
                var = nc.createVariable(disk, ftype, ("frame", "atom", "spatial"))
                var.set_auto_scale(False)
                var.units = unit
                if scale is not None:
                    var.scale_factor = scale
        if "cell" in ds:
            nc.createVariable("cell_lengths", "f8", ("frame", "cell_spatial")).units = "angstrom"
            nc.createVariable("cell_angles", "f8", ("frame", "cell_angular")).units = "degree"
            var = nc.createVariable("cell", "f8", ("frame", "cell_vector", "spatial"))
            var.units = "angstrom"
            var.long_name = traj.LONG_NAMES["cell"]
        for name, var in ds.variables.items():
            if name in CONVERTED or name in ("cell", "spatial", "cell_vector"):
                continue
            for dim, size in zip(var.dims, var.shape):
                if dim not in nc.dimensions:
                    nc.createDimension(dim, size)
            dtype = var.dtype
            if dtype == bool:
                dtype = np.int8
            elif dtype.kind in "iu":
                dtype = np.int32
            elif dtype.kind == "f":
                dtype = np.float64
            else:
                traj.warn(f"variable {name!r} of type {dtype} cannot be stored in NetCDF-3; dropped")
                self._names.discard(name)
                continue
            out = nc.createVariable(name, dtype, var.dims)
            for key, value in var.attrs.items():  # units, long_name, and any other text or number
                if isinstance(value, (str, int, float, np.integer, np.floating)) and not key.startswith("_"):
                    setattr(out, key, value)
            if "frame" not in var.dims:
                out[:] = np.asarray(var.values).astype(dtype)


def _standard_orientation(cells, atol=1e-6):
    """Per frame: whether cell_lengths/cell_angles give back the cell (a along +x, b in the xy
    plane, a right-handed set), as AMBER readers rebuild it."""
    upper_zero = np.all(np.abs(cells[..., [0, 0, 1], [1, 2, 2]]) <= atol, axis=-1)
    return upper_zero & np.all(np.diagonal(cells, axis1=-2, axis2=-1) > 0, axis=-1)


def _float64(var):
    """A Variable as float64 when it is in memory; a lazily indexed one is returned as is."""
    if not var._in_memory:
        return var
    return xr.Variable(var.dims, np.asarray(var.values, dtype=np.float64), var.attrs)


def _scaled(var):
    """A raw NetCDF Variable as float64 with its AMBER/CF scale_factor applied (read if lazy)."""
    scale = float(var.attrs.get("scale_factor", 1.0))
    if scale == 1.0:
        return _float64(var)
    return xr.Variable(var.dims, np.asarray(var.values, dtype=np.float64) * scale, var.attrs)


INT32 = np.iinfo(np.int32)
MAX_HEADER = 2**26  # bytes: a longer NetCDF-3 header is taken as corrupt
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}  # nc_type -> bytes


class _Header:
    """Sequential reader of a NetCDF-3 header: big-endian, counts 64-bit in CDF-5 (struct.error
    when the bytes run out)."""

    def __init__(self, data):
        self.data, self.pos, self.version = data, 4, data[3]

    def int(self, size=4):
        (value,) = struct.unpack_from(">Q" if size == 8 else ">I", self.data, self.pos)
        self.pos += size
        return value

    def count(self):
        return self.int(8 if self.version == 5 else 4)

    def name(self):
        n = self.count()
        if self.pos + n > len(self.data):
            raise struct.error("header cut")
        text = self.data[self.pos:self.pos + n].decode("utf-8", "replace")
        self.pos += -(-n // 4) * 4
        return text

    def skip_attributes(self):
        self.int()  # NC_ATTRIBUTE tag, or ABSENT
        for _ in range(self.count()):
            self.name()
            n_bytes = _TYPE_SIZE.get(self.int(), 1) * self.count()
            self.pos += -(-n_bytes // 4) * 4


def _classic_header(data):
    """(numrecs, dimension lengths, variables [(name, dimension ids, type size, begin)]) of a
    NetCDF-3 header (CDF-1, CDF-2 or CDF-5) at the start of `data`."""
    h = _Header(data)
    numrecs = h.count()
    h.int()  # NC_DIMENSION tag, or ABSENT
    dims = []
    for _ in range(h.count()):
        h.name()
        dims.append(h.count())
    h.skip_attributes()
    h.int()  # NC_VARIABLE tag, or ABSENT
    variables = []
    for _ in range(h.count()):
        name = h.name()
        ids = [h.count() for _ in range(h.count())]
        h.skip_attributes()
        size = _TYPE_SIZE.get(h.int(), 1)
        h.count()  # vsize: clamped for huge variables, so recomputed from the shape
        begin = h.int(4 if h.version == 1 else 8)
        variables.append((name, ids, size, begin))
    return numrecs, dims, variables


def check_complete(path):
    """Number of complete frames of a NetCDF-3 file; InputError (naming the file) when it is
    shorter than its header declares; None for other files (left to their readers).

    Rule: each fixed-size variable, and each record variable in every one of the `numrecs`
    frames the header declares, must lie inside the file (a cut in trailing padding loses
    nothing and passes). numrecs = STREAMING (all ones, written by streaming writers) is
    legal and means the frames that fit in the file.
    """
    path = str(path)
    file_size = os.path.getsize(path)
    with open(path, "rb") as handle:
        data = handle.read(65536)
        if data[:3] != b"CDF":
            return None
        if len(data) < 4:
            raise InputError(f"truncated NetCDF file: its header is cut ({file_size} bytes)", path)
        if data[3] not in (1, 2, 5):
            return None
        while True:
            try:
                numrecs, dims, variables = _classic_header(data)
                break
            except struct.error:
                if len(data) >= min(file_size, MAX_HEADER):
                    raise InputError(f"truncated or corrupt NetCDF file: its header is cut ({file_size} bytes)",
                                     path) from None
                data += handle.read(len(data))
    if any(i >= len(dims) for _, ids, _, _ in variables for i in ids):
        raise InputError("corrupt NetCDF header: a variable names a dimension that does not exist", path)
    record_dims = {i for i, n in enumerate(dims) if n == 0}
    fixed, records = [], []
    for name, ids, size, begin in variables:
        n = size * int(np.prod([dims[i] for i in ids if i not in record_dims]))
        (records if ids and ids[0] in record_dims else fixed).append((name, n, begin))
    for name, n, begin in fixed:
        if begin + n > file_size:
            raise InputError(f"truncated NetCDF file: variable {name} needs {begin + n} bytes, the file has "
                             f"{file_size}", path)
    recsize = records[0][1] if len(records) == 1 else sum(-(-n // 4) * 4 for _, n, _ in records)
    if not records or recsize == 0:
        return numrecs
    complete = min((file_size - begin - n) // recsize + 1 if file_size >= begin + n else 0
                   for _, n, begin in records)
    if numrecs in (2**32 - 1, 2**64 - 1):  # STREAMING
        return complete
    if complete < numrecs:
        raise InputError(f"truncated NetCDF file: {complete} of the {numrecs} frames its header declares are "
                         f"complete ({file_size} bytes); copy it again", path)
    return numrecs


def is_eqt_netcdf(path):
    """True when `path` is an AMBER NetCDF trajectory carrying eqt's atomic numbers."""
    path = str(path)
    with open(path, "rb") as handle:
        head = handle.read(65536)
    if head[:3] == b"CDF" and len(head) > 3 and head[3] in (1, 2, 5):  # NetCDF-3: the header says
        try:
            return any(name == "atomic_number" for name, _, _, _ in _classic_header(head)[2])
        except struct.error:  # a header longer than 64 KiB: ask the library
            pass
    try:
        with netCDF4.Dataset(path) as nc:
            return "atomic_number" in nc.variables
    except OSError:
        return False


def _check_raw(raw, path):
    """Refuse a file that is not an eqt AMBER trajectory; warn of atoms without an element."""
    if "AMBER" not in str(raw.attrs.get("Conventions", "")) or "coordinates" not in raw.variables:
        raise InputError("NetCDF file is not an AMBER trajectory (no Conventions=AMBER or no coordinates)", path)
    if "atomic_number" not in raw.variables:
        raise InputError("AMBER trajectory without eqt's atomic_number variable; pass --topology "
                         "(e.g. a prmtop or PSF) to read it through MDAnalysis", path)
    unknown = int(np.sum(raw.variables["atomic_number"].values == 0))
    if unknown:
        traj.warn(f"{path}: {unknown} atoms have no known element (atomic_number 0)")


def _open_raw(path):
    """The file's variables, per-atom-per-frame arrays lazily indexed, the small ones loaded."""
    path = str(path)
    n_frames = check_complete(path)
    try:
        raw = xr.open_dataset(path, engine="netcdf4", decode_times=False, decode_timedelta=False,
                              mask_and_scale=False)
    except (OSError, ValueError) as err:
        raise InputError(f"not a readable NetCDF file ({err})", path) from None
    if n_frames is not None and raw.sizes.get("frame", 0) > n_frames:  # STREAMING: the frames that fit
        raw = raw.isel(frame=slice(0, n_frames))
    raw = raw.drop_vars([v for v in LABEL_DIMS if v in raw.variables])
    for name, var in raw.variables.items():
        if not ("frame" in var.dims and "atom" in var.dims):
            var.load()
    _check_raw(raw, path)
    return raw


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _native(array):
    """A copy in the machine's byte order (the file's arrays are big-endian views); floats as
    float64 (what `_to_eqt` makes of them), converted in the same pass."""
    return np.array(array, dtype=np.float64 if array.dtype.kind == "f" else array.dtype.newbyteorder("="))


_Raw = collections.namedtuple("_Raw", "variables data_vars attrs")


class _Classic:
    """A NetCDF-3 file (CDF-1 or CDF-2: eqt's own) memory-mapped through scipy's reader, so a
    chunk of frames is one strided copy from the page cache, without the NetCDF library or
    xarray's lazy indexing. `raw(frames)` is the chunk's raw variables (as `_open_raw` gives
    them, loaded). None from `open` for files scipy does not read (CDF-5, STREAMING)."""

    def __init__(self, nc, path, n_frames):
        self.nc, self.path, self.n_frames = nc, path, n_frames
        self.attrs = {k: _text(v) for k, v in nc._attributes.items()}
        self.per_frame, fixed = [], {}
        for name, var in nc.variables.items():
            if name in LABEL_DIMS or var.data.dtype.kind == "S":
                continue
            attrs = {k: _text(v) for k, v in var._attributes.items()}
            if var.dimensions[:1] == ("frame",):
                self.per_frame.append((name, var.dimensions, attrs))
            else:
                fixed[name] = xr.Variable(var.dimensions, _native(var.data), attrs)
        self.fixed = fixed

    @classmethod
    def open(cls, path, n_frames):
        from scipy.io import netcdf_file
        try:
            nc = netcdf_file(path, "r", mmap=True, maskandscale=False)
        except Exception:  # noqa: BLE001 - anything scipy cannot read goes through the NetCDF library
            return None
        frames = nc.dimensions.get("frame", 0)
        if frames is None:  # the record dimension: the complete records
            frames = n_frames
        if any(var.data.shape[0] < frames for var in nc.variables.values() if var.dimensions[:1] == ("frame",)):
            nc.close()
            return None
        return cls(nc, path, frames)

    def raw(self, frames):
        """The raw variables of the frames (a slice), in memory (what `_to_eqt` reads of a Dataset)."""
        variables = dict(self.fixed)
        for name, dims, attrs in self.per_frame:
            variables[name] = xr.Variable(dims, _native(self.nc.variables[name].data[frames]), attrs)
        return _Raw(variables, variables, self.attrs)

    def release(self):
        """Unmap the pages read so far (they stay in the page cache), so the resident memory of a
        stream does not grow with the file."""
        if hasattr(mmap, "MADV_DONTNEED") and getattr(self.nc, "_mm", None) is not None:
            self.nc._mm.madvise(mmap.MADV_DONTNEED)

    def close(self):
        self.nc.close()


def open_lazy(path):
    """Open an AMBER NetCDF trajectory as a lazy eqt Dataset in eqt units: per-atom-per-frame
    arrays (positions, velocities, forces, ...) stay on disk, in their stored precision, until
    indexed and read (`ds.isel(atom=...).values` reads only that slab); everything else is
    loaded. Honours AMBER `scale_factor` attributes (a scaled per-atom array is read whole).
    Files without eqt's `atomic_number` are refused here (read them through MDAnalysis).
    """
    path = str(path)
    ds = _to_eqt(_open_raw(path), path)
    traj.validate(ds, path)  # what is in memory now; the rest is checked as it is read
    periodic = "cell" in ds and bool(ds["pbc"].values.any())
    cells = ds["cell"].values if periodic else None
    n_frames = check_complete(path)
    classic = _Classic.open(path, n_frames) if n_frames is not None else None
    disk_names = {name: disk for name, (disk, _, _) in CONVERTED.items()}
    for name in list(ds.data_vars):
        var = ds[name].variable
        if not var._in_memory:
            source = var._data if classic is None else _Mapped(classic, disk_names.get(name, name))
            ds[name] = xr.Variable(var.dims, indexing.LazilyIndexedArray(_Checked(source, var, name, path, cells)),
                                   var.attrs)
    ds.encoding["source"] = path
    return ds


class _Checked(BackendArray):
    """A variable still on disk whose every read slab passes `trajectory.check_array` (NaN,
    inf, bounds), with the file's frame and atom numbers in the messages."""

    def __init__(self, array, var, name, path, cells):
        self.array, self.dims, self.name, self.path, self.cells = array, var.dims, name, path, cells
        self.shape, self.dtype = var.shape, var.dtype

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._read)

    def _read(self, key):
        scalar = [isinstance(k, (int, np.integer)) for k in key]
        full = tuple(slice(k, k + 1) if s else k for k, s in zip(key, scalar))
        values = np.asarray(self.array.oindex[indexing.OuterIndexer(full)])
        index = {d: np.arange(n)[k] for d, n, k in zip(self.dims, self.shape, full)}
        frames, atoms = index.get("frame"), index.get("atom")
        cells = None if self.cells is None or frames is None else self.cells[frames]
        traj.check_array(self.name, values, self.dims, self.path, cells, frames, atoms)
        return values.squeeze(axis=tuple(np.flatnonzero(scalar))) if any(scalar) else values


class _Mapped:
    """Outer indexing (`oindex[...]`, as the NetCDF library's arrays offer it) of a variable of a
    memory-mapped NetCDF-3 file: the frames and atoms asked for, copied in native byte order and
    the stored precision, a block of frames at a time; the pages read are unmapped again."""

    def __init__(self, classic, name):
        self.classic, self.name, self.oindex = classic, name, self

    BLOCK = 256  # frames mapped at a time: the pages touched stay few however long the file

    def __getitem__(self, indexer):
        frames, *rest = indexer.tuple
        data = self.classic.nc.variables[self.name].data
        frames = np.arange(self.classic.n_frames)[frames]
        parts = []
        for lo in range(0, max(len(frames), 1), self.BLOCK):
            block = data[frames[lo:lo + self.BLOCK]]
            for axis, k in enumerate(rest, start=1):
                block = block[(slice(None),) * axis + (k,)]
            parts.append(np.array(block, dtype=block.dtype.newbyteorder("=")))
            self.classic.release()
        del data, block
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def count_frames(path):
    """Frames in an AMBER NetCDF file (the complete ones of a STREAMING NetCDF-3 file)."""
    n = check_complete(path)
    if n is None:
        with netCDF4.Dataset(str(path)) as nc:
            n = len(nc.dimensions["frame"]) if "frame" in nc.dimensions else 0
    return n


def iter_read(path, chunk_frames=256, start=0, stop=None, stride=1):
    """Stream an AMBER NetCDF trajectory as eqt chunks (float64), reading only each chunk's frames."""
    path = str(path)
    n_frames = check_complete(path)
    classic = _Classic.open(path, n_frames) if n_frames is not None else None
    raw = _open_raw(path) if classic is None else None
    if classic is not None:
        _check_raw(classic.raw(slice(0, 0)), path)
    try:
        total = raw.sizes["frame"] if raw is not None else classic.n_frames
        frames = np.arange(total)[slice(start, stop, stride)]
        for lo in range(0, len(frames), chunk_frames):
            picked = frames[lo:lo + chunk_frames]
            window = slice(picked[0], picked[-1] + 1, stride)
            chunk = _to_eqt(raw.isel(frame=window).load() if raw is not None else classic.raw(window), path)
            if classic is not None:
                classic.release()
            traj.validate(chunk, path, picked)
            yield chunk
    finally:
        (raw if raw is not None else classic).close()


def _to_eqt(raw, path):
    """Raw AMBER variables (in memory or lazily indexed) -> eqt names and units."""
    raw_vars = raw.variables
    out = {}
    for name, (disk, unit, eqt_scale) in CONVERTED.items():
        if disk in raw_vars:
            var = _float64(raw_vars[disk])
            disk_unit = str(var.attrs.get("units", unit)).lower().replace(" ", "")
            if disk_unit not in (unit, unit + "s"):
                raise InputError(f"{disk} in {disk_unit!r}, expected {unit}", path)
            scale = float(var.attrs.get("scale_factor", 1.0))
            if eqt_scale is not None and np.isclose(scale, eqt_scale, rtol=1e-12, atol=0):
                out[name] = var  # eqt's own storage: the raw numbers are eqt units
            elif name != "forces" and scale == 1.0:
                out[name] = var  # Å and Å/ps as stored
            else:
                out[name] = var.load() * (scale * (units.KCAL_MOL if name == "forces" else 1.0))
    if "cell" in raw_vars:
        out["cell"] = _scaled(raw_vars["cell"])
    elif "cell_lengths" in raw_vars:
        out["cell"] = (("frame", "cell_vector", "spatial"),
                       cellmod.from_lengths_angles(_scaled(raw_vars["cell_lengths"]).values,
                                                   _scaled(raw_vars["cell_angles"]).values))
    skip = {disk for disk, _, _ in CONVERTED.values()} | {"cell", "cell_lengths", "cell_angles", "time"}
    for name in raw.data_vars:
        if name not in skip:
            var = raw_vars[name]
            out[name] = _scaled(var) if "scale_factor" in var.attrs else var
    out["pbc"] = out["pbc"].astype(bool) if "pbc" in out else ("spatial", np.full(3, "cell" in out))
    for name in ("atomic_number", "pbc", "mass", "molecule"):
        if name in out and isinstance(out[name], xr.Variable):
            out[name] = out[name].load()
    ds = xr.Dataset(out, coords={"time": _scaled(raw_vars["time"])} if "time" in raw_vars else None)
    for name, var in ds.variables.items():
        var.attrs = {k: v for k, v in var.attrs.items() if k in ("units", "long_name", "grid")}
        if name in traj.UNITS:
            var.attrs["units"] = traj.UNITS[name]
        if name in traj.LONG_NAMES:
            var.attrs["long_name"] = traj.LONG_NAMES[name]
    ds.attrs = {k: v for k, v in raw.attrs.items() if k in ("title", "history")}
    return ds
