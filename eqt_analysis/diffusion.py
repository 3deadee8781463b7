"""Unwrapping, mean-squared displacement and self-diffusion coefficients.

Positions may be wrapped: `unwrap` follows every atom through the periodic boundaries by
adding, frame after frame, the minimum image of its displacement (exact while atoms move
less than half the smallest cell width between frames; the cell of the later frame is used,
so NPT runs are followed too). Molecules split at frame 0 are made whole first, so their
centres of mass are right.

MSD over all time origins by FFT (`timeseries.msd_fft`), chunked over atoms (memory:
n_frames x chunk x 3 floats), with the system's centre-of-mass drift removed by default.
D = slope / 6 of a straight line through MSD(t) over a fit window; its standard error
comes from the same fit on blocks of consecutive frames (one MSD per block).
"""
import numba
import numpy as np
import xarray as xr

from . import cell as cellmod
from . import molecules
from . import timeseries
from . import units
from .errors import InputError
from .resources import check_memory

YEH_HUMMER_XI = 2.837297  # cubic lattice constant of the finite-size correction
ANGSTROM2_PER_PS_IN_1E5_CM2_PER_S = 10.0  # 1 Å^2/ps = 1e-4 cm^2/s = 10 x 1e-5 cm^2/s


@numba.njit(cache=True, parallel=True)
def _unwrap(positions, cells, out):
    n_frames = positions.shape[0]
    h_inv = np.empty((n_frames, 3, 3))
    for t in range(n_frames):
        h_inv[t] = np.linalg.inv(cells[t])
    for i in numba.prange(positions.shape[1]):
        for k in range(3):
            out[0, i, k] = positions[0, i, k]
        for t in range(1, n_frames):
            d0 = positions[t, i, 0] - positions[t - 1, i, 0]
            d1 = positions[t, i, 1] - positions[t - 1, i, 1]
            d2 = positions[t, i, 2] - positions[t - 1, i, 2]
            g = h_inv[t]
            s0 = d0 * g[0, 0] + d1 * g[1, 0] + d2 * g[2, 0]
            s1 = d0 * g[0, 1] + d1 * g[1, 1] + d2 * g[2, 1]
            s2 = d0 * g[0, 2] + d1 * g[1, 2] + d2 * g[2, 2]
            s0 -= np.floor(s0 + 0.5)
            s1 -= np.floor(s1 + 0.5)
            s2 -= np.floor(s2 + 0.5)
            h = cells[t]
            for k in range(3):
                out[t, i, k] = out[t - 1, i, k] + s0 * h[0, k] + s1 * h[1, k] + s2 * h[2, k]


def unwrap(positions, cells):
    """Continuous trajectories (T, n, 3) Å from wrapped positions (T, n, 3) and cells (T, 3, 3)
    (None: an open system, returned as is)."""
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    if cells is None:
        return positions.copy()
    out = np.empty_like(positions)
    _unwrap(positions, np.ascontiguousarray(np.broadcast_to(cells, (len(positions), 3, 3)), dtype=np.float64), out)
    return out


class Trajectory:
    """Unwrapped coordinates of any atoms of a (lazy) eqt Dataset, read atom chunk by chunk."""

    def __init__(self, ds):
        self.ds = ds
        self.cells = ds["cell"].values if ("cell" in ds and bool(ds["pbc"].values.any())) else None
        self.masses = ds["mass"].values
        numbers = ds["atomic_number"].values
        first = ds["positions"].isel(frame=0).values
        # lattice offsets that make molecules whole at frame 0 (also for chunks cutting molecules)
        self.offsets = np.zeros_like(first)
        if self.cells is not None:
            tree = molecules.spanning_edges(numbers, first, self.cells[0], ds["pbc"].values)
            self.offsets = molecules.make_whole(first[None], self.cells[:1], *tree)[0] - first

    def positions(self, atoms):
        """Unwrapped positions (T, len(atoms), 3) Å of the atom indices `atoms`."""
        raw = self.ds["positions"].isel(atom=np.asarray(atoms)).values
        return unwrap(raw, self.cells) + self.offsets[atoms]

    def centre_of_mass(self, atoms, chunk=512):
        """Centre of mass (T, 3) Å of the atoms, accumulated chunk by chunk."""
        atoms = np.asarray(atoms)
        total = 0.0
        for lo in range(0, len(atoms), chunk):
            part = atoms[lo:lo + chunk]
            total = total + np.einsum("tia,i->ta", self.positions(part), self.masses[part])
        return total / self.masses[atoms].sum()


def _blocks_of(n_frames, n_blocks):
    length = n_frames // n_blocks
    return [slice(b * length, (b + 1) * length) for b in range(n_blocks)], length


def msd(ds, groups, remove_drift=True, n_blocks=5, chunk=256, progress=None, source=None):
    """MSD curves of atom groups and molecular centres of mass, with block errors.

    groups: {name: atom indices} for atoms, or {name: ("com", [atom index arrays per
    molecule])} for centres of mass of molecules. Returns a Dataset on `lag_time` (ps) with
    msd_<name> (Å^2) and msd_<name>_err (NaN beyond the block length). Needs n_blocks >= 2
    blocks of >= 2 frames. source: the file for messages (default ds.encoding['source']).
    """
    source = source or ds.encoding.get("source")
    times = ds["time"].values if "time" in ds.coords else None
    if times is None:
        raise InputError("the trajectory has no time; the MSD needs the time of each frame", source)
    dt = timeseries.time_step(times, source)
    n_frames = len(times)
    length = timeseries.check_blocks(n_frames, n_blocks, source)
    # unwrapped positions of one atom chunk and their FFT work space (~8 copies)
    check_memory(8 * n_frames * chunk * 3 * 8, f"MSD of {n_frames} frames x {chunk} atoms at a time", source)
    traj = Trajectory(ds)
    drift = None
    if remove_drift:
        drift = traj.centre_of_mass(np.arange(ds.sizes["atom"]), chunk)
        drift -= drift[0]
    blocks, _ = _blocks_of(n_frames, n_blocks)
    out = xr.Dataset(coords={"lag_time": ("lag_time", np.arange(n_frames) * dt,
                                          {"units": "picosecond", "long_name": "lag time"})})
    for name, group in groups.items():
        total = np.zeros(n_frames)
        per_block = np.zeros((n_blocks, length))
        count = 0
        for coords in _group_chunks(traj, group, chunk):
            if drift is not None:
                coords = coords - drift[:, None, :]
            total += timeseries.msd_fft(coords).sum(axis=1)
            for b, sl in enumerate(blocks):
                per_block[b] += timeseries.msd_fft(coords[sl]).sum(axis=1)
            count += coords.shape[1]
            if progress:
                progress(coords.shape[1])
        curve = total / count
        per_block /= count
        err = np.full(n_frames, np.nan)
        err[:length] = per_block.std(axis=0, ddof=1) / np.sqrt(n_blocks)
        out[f"msd_{name}"] = ("lag_time", curve, {"units": "angstrom^2", "long_name": f"mean-squared displacement of {name}"})
        out[f"msd_{name}_err"] = ("lag_time", err, {"units": "angstrom^2", "long_name": f"standard error (blocks) of msd_{name}"})
        out[f"msd_{name}_blocks"] = (("block", "block_lag"), per_block, {"units": "angstrom^2"})
    out.attrs.update(n_frames=n_frames, time_step_ps=dt, n_blocks=n_blocks, block_frames=length,
                     drift_removed=int(remove_drift))
    if source:
        out.encoding["source"] = str(source)
    return out


def _group_chunks(traj, group, chunk):
    if isinstance(group, tuple) and group[0] == "com":
        members = group[1]
        for lo in range(0, len(members), chunk):
            yield np.stack([traj.centre_of_mass(m) for m in members[lo:lo + chunk]], axis=1)
    else:
        group = np.asarray(group)
        for lo in range(0, len(group), chunk):
            yield traj.positions(group[lo:lo + chunk])


def diffusion(result, fit_start, fit_stop, names=None, source=None):
    """Add D_<name> (Å^2/ps), its block standard error and 1e-5 cm^2/s values to an MSD result.

    The fit window [fit_start, fit_stop] (ps, finite, 0 <= start < stop; default: stop at 80 %
    of the block length, start at stop / 4) must lie inside the block length and hold at
    least 2 frames. source: the file for messages (default: the one msd() recorded).
    """
    source = source or result.encoding.get("source")
    lag = result["lag_time"].values
    length = result.attrs["block_frames"]
    if fit_stop is None:
        fit_stop = lag[length - 1] * 0.8
    if fit_start is None:
        fit_start = fit_stop / 4
    if not (np.isfinite(fit_start) and np.isfinite(fit_stop) and 0 <= fit_start < fit_stop):
        raise InputError(f"bad fit window {fit_start:g} .. {fit_stop:g} ps (need finite 0 <= start < stop)", source)
    if fit_stop > lag[length - 1] + 1e-12:
        raise InputError(f"fit window ends at {fit_stop:g} ps, beyond the block length "
                         f"{lag[length - 1]:g} ps ({result.attrs['n_blocks']} blocks); use fewer --blocks "
                         "or a shorter window", source)
    window = (lag >= fit_start - 1e-12) & (lag <= fit_stop + 1e-12)
    if window.sum() < 2:
        raise InputError(f"fewer than 2 frames in the fit window {fit_start:g} .. {fit_stop:g} ps (frames every "
                         f"{lag[1]:g} ps, blocks of {length} frames): use a longer trajectory, fewer --blocks or "
                         "a wider window", source)
    for name in names or [n[4:] for n in result.data_vars if n.startswith("msd_") and n.count("_") == 1]:
        slope, _ = timeseries.linear_fit(lag[window], result[f"msd_{name}"].values[window])
        blocks = result[f"msd_{name}_blocks"].values[:, window[:length]]
        block_slopes, _ = timeseries.linear_fit(lag[window], blocks.T)
        d, d_err = slope / 6, np.std(block_slopes, ddof=1) / np.sqrt(len(block_slopes)) / 6
        result[f"D_{name}"] = ((), d, {"units": "angstrom^2/picosecond", "long_name": f"self-diffusion coefficient of {name}"})
        result[f"D_{name}_err"] = ((), d_err, {"units": "angstrom^2/picosecond"})
        result[f"D_{name}_1e5cm2s"] = ((), d * ANGSTROM2_PER_PS_IN_1E5_CM2_PER_S,
                                       {"units": "1e-5 cm^2/s", "long_name": f"D_{name} in 1e-5 cm^2/s"})
        result[f"D_{name}_1e5cm2s_err"] = ((), d_err * ANGSTROM2_PER_PS_IN_1E5_CM2_PER_S, {"units": "1e-5 cm^2/s"})
    result.attrs.update(fit_start_ps=float(fit_start), fit_stop_ps=float(fit_stop))
    return result


def yeh_hummer(d, temperature, viscosity, cells, source=None):
    """Finite-size corrected D (Å^2/ps): D + k_B T xi / (6 pi eta L), with T in K, the
    viscosity eta in mPa s, L = <V>^(1/3) in Å (exact for cubic boxes)."""
    temperature = timeseries.check_positive(temperature, "the temperature (K)", source)
    viscosity = timeseries.check_positive(viscosity, "the viscosity (mPa s)", source)
    length = np.mean(cellmod.volume(cells)) ** (1 / 3) * 1e-10  # m
    kt = units.K_BOLTZMANN * temperature * 1.602176634e-19  # J
    correction = kt * YEH_HUMMER_XI / (6 * np.pi * viscosity * 1e-3 * length)  # m^2/s
    return d + correction * 1e8  # 1 m^2/s = 1e8 Å^2/ps
