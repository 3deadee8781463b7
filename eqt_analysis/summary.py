"""What a trajectory holds: frames, atoms, composition, molecules, time span and step, cell,
variables with units — summarized from a stream of chunks (memory flat in its length)."""
from collections import Counter

import numpy as np

from . import cell as cellmod
from . import timeseries
from . import trajectory as traj
from .errors import InputError
from .system import System


def summarize(chunks, source=None):
    """Summary dict of a trajectory streamed as eqt Dataset chunks (JSON-serializable; times
    in ps, lengths in Å, volumes in Å^3; the cell's lengths and angles are the first frame's, `varies`
    says whether any frame has another cell). source: the file for messages."""
    n_frames, times, volumes, off_diagonal, first, varies = 0, [], [], 0.0, None, False
    for ds in chunks:
        if first is None:
            first = ds.isel(frame=[0])
        n_frames += ds.sizes["frame"]
        if "time" in ds.coords:
            times.append(ds["time"].values)
        if "cell" in ds:
            cells = ds["cell"].values
            volumes.append(cellmod.volume(cells))
            varies = varies or bool(np.any(cells != first["cell"].values[0]))
            off_diagonal = max(off_diagonal, float(np.max(np.abs(cells - cells * np.eye(3)))))
    if first is None:
        raise InputError("no frames", source)
    counts = Counter(traj.symbols(first))
    out = {
        "frames": n_frames,
        "atoms": first.sizes["atom"],
        "composition": "".join(f"{s}{counts[s]}" for s in sorted(counts)),
        "pbc": [bool(b) for b in first["pbc"].values],
    }
    if "molecule" in first:
        out["molecules"] = int(first["molecule"].max()) + 1
    out["water_molecules"] = len(System.from_dataset(first, source).waters)
    if times:
        t = np.concatenate(times)
        out["time_start_ps"] = float(t[0])
        out["time_stop_ps"] = float(t[-1])
        if len(t) > 1:
            dt = np.diff(t)
            out["time_step_ps"] = float(np.median(dt))
            out["time_step_uniform"] = not timeseries.uneven_steps(t).any()
    if volumes:
        cell_kind = "orthorhombic" if off_diagonal == 0.0 else f"triclinic (max off-diagonal {off_diagonal:.3g} Å)"
        lengths, angles = cellmod.lengths_angles(first["cell"].values[0])
        vol = np.concatenate(volumes)
        out["cell"] = {"kind": cell_kind, "lengths_angstrom": [round(float(x), 6) for x in lengths],
                       "angles_degree": [round(float(x), 6) for x in angles],
                       "volume_min_angstrom3": float(vol.min()), "volume_max_angstrom3": float(vol.max()),
                       "varies": varies}
    else:
        out["cell"] = {"kind": "none (open system)"}
    out["variables"] = {name: {"dims": list(var.dims), "units": var.attrs.get("units", "")}
                        for name, var in first.variables.items() if name not in ("spatial", "cell_vector")}
    return out


def as_text(path, info):
    """The summary as an aligned text table, one line per item."""
    lines = [f"file          {path}",
             f"frames        {info['frames']}",
             f"atoms         {info['atoms']}  ({info['composition']})"]
    molecules = f"{info['molecules']}, " if "molecules" in info else ""
    lines.append(f"molecules     {molecules}{info['water_molecules']} water")
    if "time_step_ps" in info:
        uniform = "" if info["time_step_uniform"] else "  (NOT uniform)"
        lines.append(f"time          {info['time_start_ps']:g} .. {info['time_stop_ps']:g} ps, "
                     f"step {info['time_step_ps']:g} ps{uniform}")
    cell = info["cell"]
    if "lengths_angstrom" in cell:
        lines.append(f"cell          {cell['kind']}, a b c = {' '.join(f'{x:g}' for x in cell['lengths_angstrom'])} Å, "
                     f"angles = {' '.join(f'{x:g}' for x in cell['angles_degree'])}°"
                     f"{' (first frame; the cell varies)' if cell['varies'] else ''}, "
                     f"volume {cell['volume_min_angstrom3']:.6g}..{cell['volume_max_angstrom3']:.6g} Å³")
    else:
        lines.append(f"cell          {cell['kind']}")
    lines.append(f"pbc           {' '.join('T' if b else 'F' for b in info['pbc'])}")
    lines.append("variables")
    for name, var in info["variables"].items():
        lines.append(f"  {name:<22} ({', '.join(var['dims'])})  {var['units']}")
    return "\n".join(lines)


def describe_result(ds):
    """JSON-ready summary of an eqt analysis result (a Dataset with result_type): its type, sizes, every
    variable with dims and units (0-d values included), and its attributes."""
    def plain(value):
        value = value.item() if hasattr(value, "item") and np.ndim(value) == 0 else value
        return value.tolist() if isinstance(value, np.ndarray) else value

    variables = {}
    for name, var in ds.variables.items():
        entry = {"dims": list(var.dims), "units": var.attrs.get("units", ""),
                 "long_name": var.attrs.get("long_name", "")}
        if var.ndim == 0:
            entry["value"] = plain(var.values)
        variables[name] = entry
    return {"result_type": ds.attrs["result_type"], "sizes": {k: int(v) for k, v in ds.sizes.items()},
            "variables": variables, "attributes": {k: plain(v) for k, v in ds.attrs.items()}}


def result_as_text(path, info):
    """describe_result's summary as aligned text."""
    lines = [f"file          {path}", f"result        {info['result_type']}",
             "sizes         " + ", ".join(f"{k} {v}" for k, v in info["sizes"].items()), "variables"]
    for name, var in info["variables"].items():
        value = f" = {var['value']:.6g}" if isinstance(var.get("value"), float) else \
            f" = {var['value']}" if "value" in var else ""
        lines.append(f"  {name:<28} ({', '.join(var['dims'])})  {var['units']}{value}")
    lines.append("attributes")
    lines += [f"  {k:<28} {str(v).replace(chr(10), '; ')}" for k, v in info["attributes"].items() if k != "result_type"]
    return "\n".join(lines)
