"""Reading and writing trajectories: every reader yields the same eqt Dataset chunks.

    iter_trajectory(paths, ...)  -> chunks of frames (memory flat in trajectory length)
    open_trajectory(path, ...)   -> one Dataset (lazy for eqt .nc files: slabs read on demand)
    open_writer(path, format)    -> writer with .write(chunk) / .close()

Formats: 'netcdf' (eqt/AMBER .nc), 'extxyz' (ASE), 'ipi' (i-PI xyz, detected from its
`CELL(...)` header), 'mdanalysis' (anything MDAnalysis reads; an MDAnalysis format name such
as 'DCD' or 'LAMMPSDUMP' may be given instead).
"""
import os
from pathlib import Path

from .. import trajectory as traj
from ..errors import InputError
from . import ipi, mda, netcdf, xyz

NETCDF_EXT = {".nc", ".ncdf", ".netcdf"}
XYZ_EXT = {".xyz", ".extxyz"}
MDA_EXT = {".dcd", ".xtc", ".trr", ".gro", ".pdb", ".lammpstrj", ".dump", ".lammpsdump",
           ".psf", ".tpr", ".crd", ".mdcrd", ".trj", ".xyz.bz2", ".lammpstrj.bz2", ".pdb.gz",
           ".gro.gz", ".mol2", ".arc", ".h5md", ".tng", ".trz"}
WRITE_FORMATS = {"netcdf": NETCDF_EXT, "extxyz": XYZ_EXT}
FORMATS = ("netcdf", "extxyz", "ipi", "mdanalysis")


def _suffix(path):
    name = Path(str(path)).name.lower()
    parts = name.split(".")
    if len(parts) > 2 and parts[-1] in ("gz", "bz2"):
        return "." + ".".join(parts[-2:])
    return Path(name).suffix


def detect_format(path, topology=None):
    """Format name for `path` from its extension (and, for .xyz, its first comment line)."""
    ext = _suffix(path)
    if ext in NETCDF_EXT:
        with open(path, "rb") as handle:
            signature = handle.read(4)[:3]
        if signature not in (b"CDF", b"\x89HD"):
            raise InputError("not a NetCDF file (no CDF or HDF5 signature): truncated or another format", path)
        if topology is None and not netcdf.is_eqt_netcdf(path):
            if signature == b"\x89HD":
                raise InputError("a NetCDF-4 (HDF5) file that is not an eqt trajectory; AMBER trajectories are "
                                 "NetCDF-3", path)
            raise InputError("NetCDF file without eqt's atomic_number variable: its elements are unknown; pass "
                             "--topology (e.g. a prmtop or PSF) to read it through MDAnalysis", path)
        if topology is not None:
            return "mdanalysis"
        return "netcdf"
    if ext in XYZ_EXT:
        try:
            with open(path) as handle:
                handle.readline()
                comment = handle.readline()
        except OSError as err:
            raise InputError(f"cannot open ({err.strerror})", path) from None
        except UnicodeDecodeError:
            raise InputError("not a text xyz file", path) from None
        return "ipi" if ipi.looks_like_ipi(comment) else "extxyz"
    if ext in MDA_EXT or topology is not None:
        return "mdanalysis"
    raise InputError(f"unknown trajectory format {ext or '(no extension)'!r}; pass --format "
                     f"({', '.join(FORMATS)}, or an MDAnalysis format name)", path)


def _check_exists(path):
    """Refuse a missing path, a directory, and a cut NetCDF-3 file (netcdf.check_complete)."""
    if not os.path.exists(path):
        raise InputError("no such file", path)
    if os.path.isdir(path):
        raise InputError("is a directory, not a trajectory file", path)
    netcdf.check_complete(path)


def _check_topology(fmt, topology):
    """Refuse a topology given with a format that names its own atoms (it would be ignored)."""
    if topology is not None and fmt in ("netcdf", "extxyz", "ipi"):
        raise InputError(f"a topology is read only with MDAnalysis formats; {fmt} files name their own atoms "
                         "(drop --topology, or pass --format with an MDAnalysis format name)", topology)


def count_frames(path, format=None, topology=None):
    """Frames in the file (reads the whole file for text formats); InputError for a missing file."""
    _check_exists(str(path))
    fmt = format or detect_format(path, topology)
    if fmt == "netcdf":
        return netcdf.count_frames(path)
    if fmt in ("extxyz", "ipi"):
        return xyz.count_frames(path)
    return mda.count_frames(path, topology, None if fmt == "mdanalysis" else fmt)


def _nonempty(chunks, path, fmt, topology, start, stop, stride):
    """Pass the chunks on; InputError when the selection left no frame."""
    n = 0
    for chunk in chunks:
        n += chunk.sizes["frame"]
        yield chunk
    if n == 0:
        total = count_frames(path, fmt, topology)
        if total == 0:
            raise InputError("no frames in file", path)
        raise InputError(no_frames_selected(total, start, stop, stride), path)


def no_frames_selected(total, start, stop, stride):
    """The message for a frame selection that leaves nothing."""
    stop = "" if stop is None else f", stop {stop}"
    return (f"no frames selected (start {start}{stop}, stride {stride}); the file has {total} frames, "
            "numbered from 0")


def iter_trajectory(paths, format=None, topology=None, units=None, chunk_frames=256,
                    start=0, stop=None, stride=1):
    """Stream a trajectory as eqt chunks.

    `paths` is one path or, for i-PI runs, a list of the run's files (positions, velocities,
    forces) to merge. `units` is the unit of untagged i-PI files. start/stop/stride select
    frames (Python slice semantics).
    """
    paths = [str(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    for p in paths:
        _check_exists(p)
    if topology is not None:
        _check_exists(str(topology))
    fmt = format or detect_format(paths[0], topology)
    _check_topology(fmt, topology)
    if len(paths) > 1 and fmt != "ipi":
        raise InputError("several input files can only be merged for i-PI runs", paths[1])
    if fmt == "ipi":
        chunks = ipi.iter_read(paths, units, chunk_frames, start, stop, stride)
    elif fmt == "netcdf":
        chunks = netcdf.iter_read(paths[0], chunk_frames, start, stop, stride)
    elif fmt == "extxyz":
        chunks = xyz.iter_read(paths[0], slice(start, stop, stride), chunk_frames)
    else:
        mda_format = None if fmt == "mdanalysis" else fmt
        chunks = mda.iter_read(paths[0], topology, mda_format, chunk_frames, start, stop, stride)
    yield from _nonempty(chunks, paths[0], fmt, topology, start, stop, stride)


def open_trajectory(path, format=None, topology=None, units=None, chunk_frames=256,
                    start=0, stop=None, stride=1):
    """The whole trajectory (or the frames start:stop:stride) as one Dataset: lazy for eqt .nc
    files (per-atom arrays read on demand, in stored precision, checked as they are read),
    loaded in float64 otherwise. `encoding['source']` names the file (analyses quote it)."""
    path = str(path)
    _check_exists(path)
    fmt = format or detect_format(path, topology)
    _check_topology(fmt, topology)
    if fmt == "netcdf":
        ds = netcdf.open_lazy(path)
        ds = ds.isel(frame=slice(start, stop, stride))
        if ds.sizes["frame"] == 0:
            total = netcdf.count_frames(path)
            raise InputError(no_frames_selected(total, start, stop, stride) if total else "no frames in file",
                             path)
    else:
        ds = traj.concat(iter_trajectory(path, fmt, topology, units, chunk_frames, start, stop, stride), path)
    ds.encoding["source"] = path
    return ds


def writer_format(path, format=None):
    """Output format from `format` or the extension of `path`."""
    ext = _suffix(path) if path not in (None, "-") else ""
    if format:
        if format not in WRITE_FORMATS:
            raise InputError(f"cannot write format {format!r}; choose from {', '.join(WRITE_FORMATS)}")
        if ext in (NETCDF_EXT | XYZ_EXT | MDA_EXT) - WRITE_FORMATS[format]:
            # every reader, eqt's too, would take the file for the format its name says
            raise InputError(f"the name ends in {ext}, but the output is {format}: give a "
                             f"{'.nc' if format == 'netcdf' else '.xyz'} name", path)
        if ext.endswith((".gz", ".bz2", ".xz")):
            raise InputError(f"eqt writes uncompressed files; give a name without {ext.rsplit('.', 1)[1]!r} "
                             "(and compress the file afterwards)", path)
        return format
    for name, exts in WRITE_FORMATS.items():
        if ext in exts:
            return name
    raise InputError(f"cannot tell the output format from {ext or '(no extension)'!r}; "
                     f"use .nc or .xyz, or pass --to", path)


def open_writer(target, format, float64=False, history=""):
    """A writer for a path or (extxyz only) an open text stream."""
    if format == "netcdf":
        return netcdf.NetCDFWriter(target, float64=float64, history=history)
    return xyz.XYZWriter(target)
