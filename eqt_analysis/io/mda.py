"""Every topology + trajectory pair that MDAnalysis reads (DCD+PSF, XTC/TRR+TPR/GRO,
LAMMPS dump, PDB, GRO, AMBER NetCDF with its `scale_factor`s, ...).

MDAnalysis already works in Å and ps; forces come as kJ/(mol Å) and are converted to eV/Å
here. Elements come from the topology, or are guessed from atom names when it has none.
"""
import warnings

import numpy as np
from ase.data import atomic_numbers

from .. import trajectory as traj
from .. import units
from ..errors import InputError


def _universe(path, topology=None, format=None):
    import MDAnalysis as mda

    args = (str(topology), str(path)) if topology else (str(path),)
    if format and format.upper() not in mda._READERS:
        raise InputError(f"unknown format {format!r}: not eqt's (netcdf, extxyz, ipi, mdanalysis) nor an "
                         f"MDAnalysis reader ({', '.join(sorted(mda._READERS))})", path)
    kwargs = {"format": format} if format else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mda.Universe(*args, **kwargs)
    except (ValueError, OSError, TypeError, EOFError, IndexError, KeyError, RuntimeError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        where = f"{topology} + {path}" if topology else str(path)
        raise InputError(f"MDAnalysis cannot read it: {message}", where) from None


def _elements(u):
    from MDAnalysis.exceptions import NoDataError

    if hasattr(u.atoms, "elements"):
        names = u.atoms.elements
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                u.guess_TopologyAttrs(to_guess=["elements"])
            names = u.atoms.elements
        except (ValueError, AttributeError, NoDataError):
            names = u.atoms.names if hasattr(u.atoms, "names") else [""] * u.atoms.n_atoms
    return np.array([atomic_numbers.get(str(e).strip().capitalize(), 0) for e in names], dtype=np.int32)


def count_frames(path, topology=None, format=None):
    """Frames in the trajectory, as MDAnalysis counts them."""
    return len(_universe(path, topology, format).trajectory)


def iter_read(path, topology=None, format=None, chunk_frames=256, start=0, stop=None, stride=1):
    """Stream a trajectory through MDAnalysis as eqt chunks."""
    u = _universe(path, topology, format)
    source = str(path)
    numbers = _elements(u)
    if np.any(numbers == 0):
        traj.warn(f"{source}: {int(np.sum(numbers == 0))} atoms have no known element (atomic_number 0)")
    masses = u.atoms.masses if hasattr(u.atoms, "masses") else None
    # MDAnalysis converts a quantity to its units (Å, ps, Å/ps, kJ/(mol Å)) only where its reader knows the
    # file's unit; the others (e.g. a LAMMPS dump's velocities and forces) would be numbers in unknown units
    known = {q for q, unit in (getattr(u.trajectory, "units", None) or {}).items() if unit}
    dropped = [q for q in ("velocity", "force") if q not in known]
    if "time" not in known and len(u.trajectory) > 1:
        traj.warn(f"{source}: the {type(u.trajectory).__name__} reader does not know the time unit: times are "
                  "MDAnalysis's frame index x its dt (1 ps unless the file gives one)")
    buffer, first = [], None

    def flush():
        ts_list = list(buffer)
        buffer.clear()
        kwargs = {}
        if ts_list[0].dimensions is not None:
            kwargs["cell"] = np.stack([ts.triclinic_dimensions for ts in ts_list])
        if ts_list[0].has_velocities and "velocity" not in dropped:
            kwargs["velocities"] = np.stack([ts.velocities for ts in ts_list])
        if ts_list[0].has_forces and "force" not in dropped:
            kwargs["forces"] = np.stack([ts.forces for ts in ts_list]) * units.KJ_MOL
        kwargs["time"] = [ts.time for ts in ts_list]
        steps = [ts.data.get("step") for ts in ts_list]
        if all(s is not None for s in steps):
            kwargs["step"] = steps
        return traj.build(np.stack([ts.positions for ts in ts_list]), numbers, masses=masses,
                          source=source, frames=[ts.frame for ts in ts_list], **kwargs)

    try:
        for ts in u.trajectory[start:stop:stride]:
            frame = _Frame(ts)
            carried = {"a box": frame.dimensions is not None, "velocities": frame.has_velocities,
                       "forces": frame.has_forces}
            if first is None:
                first = carried
                unknown = [name for name, q in (("velocities", "velocity"), ("forces", "force"))
                           if carried[name] and q in dropped]
                if unknown:
                    traj.warn(f"{source}: {' and '.join(unknown)} not carried over: the "
                              f"{type(u.trajectory).__name__} reader does not know their units")
            elif carried != first:
                differ = [name for name in carried if carried[name] != first[name]]
                raise InputError(f"frame {ts.frame} {'has' if carried[differ[0]] else 'lacks'} {differ[0]} unlike "
                                 "the first frame: every frame must carry the same quantities", source)
            buffer.append(frame)
            if len(buffer) == chunk_frames:
                yield flush()
    except (ValueError, OSError, EOFError, IndexError, RuntimeError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"MDAnalysis failed while reading frames (truncated or corrupt?): {message}",
                         source) from None
    if buffer:
        yield flush()


class _Frame:
    """A copy of what eqt needs from an MDAnalysis Timestep (which is reused between frames)."""

    def __init__(self, ts):
        self.positions = ts.positions.astype(np.float64)
        self.dimensions = None if ts.dimensions is None else ts.dimensions.copy()
        self.triclinic_dimensions = None if ts.dimensions is None else ts.triclinic_dimensions.astype(np.float64)
        self.has_velocities = ts.has_velocities
        self.velocities = ts.velocities.astype(np.float64) if ts.has_velocities else None
        self.has_forces = ts.has_forces
        self.forces = ts.forces.astype(np.float64) if ts.has_forces else None
        self.time = float(ts.time)
        self.frame = ts.frame
        self.data = {"step": ts.data.get("step")}
