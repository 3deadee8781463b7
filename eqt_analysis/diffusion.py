"""Unwrapping, mean-squared displacement and self-diffusion coefficients (result type `msd`).

Positions may be wrapped: `unwrap` follows every atom through the periodic boundaries by
adding, frame after frame, the minimum image of its displacement (exact while atoms move
less than half the smallest cell width between frames; the cell of the later frame is used,
so NPT runs are followed too). Molecules split at frame 0 are made whole first, so their
centres of mass are right.

`MSD(system, ...).compute(ds)`: MSD over all time origins by FFT (`timeseries.msd_fft`),
chunked over atoms (memory: n_frames x chunk x 3 floats), with the system's centre-of-mass
drift removed by default, for every species (or given atom groups) and, optionally, the
molecular centres of mass; errors at every lag from the blocks that hold it
(`blocks.LagBlocks`). D (Å^2/ps) = slope / 6 of a straight line through MSD(t) over a fit
window, given or chosen from the data (`diffusive_window`); its standard error is the same
fit on the blocks that hold the window. Optionally the Yeh-Hummer finite-size correction.
"""
import functools

import numba
import numpy as np
import xarray as xr

from . import cell as cellmod
from . import molecules, results, timeseries, units
from .blocks import LagBlocks, combine_runs, standard_error, sum_chunks
from .errors import InputError
from .resources import check_memory
from .trajectory import warn

YEH_HUMMER_XI = 2.837297  # cubic lattice constant of the finite-size correction
ANGSTROM2_PER_PS_IN_1E5_CM2_PER_S = 10.0  # 1 Å^2/ps = 1e-4 cm^2/s = 10 x 1e-5 cm^2/s
SLOPE_TOLERANCE = 0.1  # a fit window is diffusive where the log-log slope of the MSD is 1 +- this
AUTOMATIC = ("automatic: the longest stretch where the local log-log slope of msd stays within 0.1 of 1 "
             "over at least a factor 2 in time, among the lags that the most blocks hold")


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
        atoms = np.asarray(atoms)
        contiguous = len(atoms) > 0 and np.array_equal(atoms, np.arange(atoms[0], atoms[0] + len(atoms)))
        pick = slice(int(atoms[0]), int(atoms[0]) + len(atoms)) if contiguous else atoms  # a slab read: ~2x faster
        out = unwrap(self.ds["positions"].isel(atom=pick).values, self.cells)
        out += self.offsets[atoms]
        return out

    def centre_of_mass(self, atoms, chunk=512):
        """Centre of mass (T, 3) Å of the atoms, accumulated chunk by chunk."""
        atoms = np.asarray(atoms)
        total = 0.0
        for lo in range(0, len(atoms), chunk):
            part = atoms[lo:lo + chunk]
            total = total + np.einsum("tia,i->ta", self.positions(part), self.masses[part])
        return total / self.masses[atoms].sum()


def loglog_slopes(lag, msd, stop, per_decade=10):
    """Local slopes d ln msd / d ln t (2 ballistic, 1 diffusive, below 1 caged) on a log-spaced
    grid k of lag indices 1..stop: (k, slopes), slopes[j] measured between k[j] and k[j + 2]
    (NaN where msd <= 0). lag: lag times (ps); msd (Å^2) on the same lags."""
    k = np.unique(np.round(np.geomspace(1, max(stop, 1), int(per_decade * np.log10(max(stop, 2))) + 2)).astype(int))
    with np.errstate(divide="ignore", invalid="ignore"):
        y, x = np.log(msd[k]), np.log(lag[k])
        return k, (y[2:] - y[:-2]) / (x[2:] - x[:-2])


def diffusive_window(lag, msd, stop, tolerance=SLOPE_TOLERANCE, span=2.0):
    """(start, stop) lag indices of the longest stretch (in ps) of lags up to index `stop` where
    the local log-log slope of msd stays within `tolerance` of 1 over at least a factor `span` in
    time, after the cage (the lowest slope, where it is below 1 - tolerance): not the brief
    crossing from ballistic motion into a cage, nor a plateau before it. None if there is none."""
    k, slopes = loglog_slopes(lag, msd, stop)
    ok = np.abs(slopes - 1) <= tolerance
    if np.isfinite(slopes).any() and np.nanmin(slopes) < 1 - tolerance:
        ok[:np.nanargmin(slopes)] = False
    ok = np.r_[False, ok, False]
    edges = np.flatnonzero(np.diff(ok.astype(int)))
    best = None
    for first, last in zip(k[edges[::2]], k[edges[1::2] + 1]):  # the lags that the slopes span
        if lag[last] >= span * lag[first] and (best is None or lag[last] - lag[first] > lag[best[1]] - lag[best[0]]):
            best = (first, last)
    return best


def window_slope(lag, msd, window):
    """Log-log slope of msd between the first positive and the last lag of a window (bool mask);
    NaN when it cannot be measured."""
    idx = np.flatnonzero(window & (lag > 0))
    if len(idx) < 2 or msd[idx[0]] <= 0 or msd[idx[-1]] <= 0:
        return float("nan")
    return float(np.log(msd[idx[-1]] / msd[idx[0]]) / np.log(lag[idx[-1]] / lag[idx[0]]))


def yeh_hummer(d, temperature, viscosity, cells, source=None):
    """Finite-size corrected D (Å^2/ps): D + k_B T xi / (6 pi eta L), with T in K, the
    viscosity eta in mPa s, L = <V>^(1/3) in Å (exact for cubic boxes)."""
    temperature = timeseries.check_positive(temperature, "the temperature (K)", source)
    viscosity = timeseries.check_positive(viscosity, "the viscosity (mPa s)", source)
    length = np.mean(cellmod.volume(cells)) ** (1 / 3) * 1e-10  # m
    kt = units.K_BOLTZMANN * temperature * 1.602176634e-19  # J
    correction = kt * YEH_HUMMER_XI / (6 * np.pi * viscosity * 1e-3 * length)  # m^2/s
    return d + correction * 1e8  # 1 m^2/s = 1e8 Å^2/ps


class MSD:
    """MSD curves and self-diffusion coefficients of atom groups.

    groups: a species selection ('O,H'; None: every species) or {name: atom indices}; com:
    also the centres of mass of the molecules (group 'com'); remove_drift: subtract the
    system's centre-of-mass motion; n_blocks: blocks of consecutive frames for the errors;
    fit_start, fit_stop: the fit window (ps; both None: chosen from the data, see
    `diffusive_window`; only fit_stop: start at fit_stop / 4; only fit_start: stop at half the
    run), anywhere up to the trajectory length; viscosity (mPa s) and temperature (K; default:
    the trajectory's mean): Yeh-Hummer corrected D; chunk: atoms per FFT pass (memory).
    """

    def __init__(self, system, groups=None, com=False, remove_drift=True, n_blocks=5, fit_start=None,
                 fit_stop=None, viscosity=None, temperature=None, chunk=256):
        self.source = system.source
        if groups is None or isinstance(groups, str):
            groups = {s: system.indices(s) for s in system.select(groups)}
        self.groups = {name: np.asarray(atoms) for name, atoms in groups.items()}
        for name, atoms in self.groups.items():
            if len(atoms) == 0:
                raise InputError(f"no atoms in group {name}", self.source)
        if com:
            self.groups["com"] = [np.flatnonzero(system.molecule == m) for m in np.unique(system.molecule)]
        self.fit = (fit_start, fit_stop)
        _check_window(fit_start, fit_stop, self.source)
        self.viscosity = None if viscosity is None else timeseries.check_positive(
            viscosity, "the viscosity (mPa s)", self.source)
        self.temperature = None if temperature is None else timeseries.check_positive(
            temperature, "the temperature (K)", self.source)
        self.remove_drift, self.n_blocks, self.chunk = remove_drift, n_blocks, chunk

    @property
    def work(self):
        """Series to unwrap and transform (atoms, and molecules for 'com'): the progress total."""
        return sum(len(g) for g in self.groups.values())

    def compute(self, runs, progress=None, mapper=map):
        """The `msd` result of the trajectory `runs` (an eqt Dataset, or a list of runs of one
        system: their MSDs are averaged over every time origin of every run, lags never
        spanning a join; lazy eqt Datasets are read atom chunk by chunk). A run may also be a
        function without arguments that opens it (what the workers of a cluster receive).
        mapper(function, items): the results in order (map: here; a cluster's map spreads the
        atom chunks over its workers, with the same result). progress: a tqdm-like bar (its
        total is set here) or None."""
        sources = [runs] if isinstance(runs, xr.Dataset) or callable(runs) else list(runs)
        runs = [opened(source) for source in sources]
        if any("time" not in ds.coords for ds in runs):
            raise InputError("the trajectory has no time; the MSD needs the time of each frame", self.source)
        dt = timeseries.runs_time_step(runs, self.source)
        lengths = [ds.sizes["frame"] for ds in runs]
        n_frames = max(lengths)
        blocks = LagBlocks(lengths, self.n_blocks, self.source)
        # unwrapped positions of one atom chunk and their FFT work space (~8 copies)
        check_memory(8 * n_frames * self.chunk * 3 * 8, f"MSD of {n_frames} frames x {self.chunk} atoms at a time",
                     self.source)
        if progress is not None:
            progress.total = self.work * len(runs)
        drifts = [None] * len(runs)
        if self.remove_drift:
            drifts = self._drifts(sources, runs, mapper)
        groups = list(self.groups.values())
        items = [(sources[r], r, g, lo, drifts[r], blocks) for r in range(len(runs)) for g in range(len(groups))
                 for lo in range(0, len(groups[g]), self.chunk)]
        sums = sum_chunks([(r, g) for _, r, g, _, _, _ in items], mapper(self._chunk, items), progress)
        per_run = [[(sums[(r, g)][0] / sums[(r, g)][2], [c / sums[(r, g)][2] for c in sums[(r, g)][1]])
                    for g in range(len(groups))] for r in range(len(runs))]
        curves = [combine_runs([run[g] for run in per_run], n_frames) for g in range(len(self.groups))]
        lag = np.arange(n_frames) * dt
        out = xr.Dataset(
            {**results.with_error("msd", ("group", "lag_time"), [c for c, _ in curves],
                                  [blocks.errors(b)[0] for _, b in curves], "angstrom^2", "mean-squared displacement"),
             "error_blocks": results.variable("lag_time", blocks.errors(curves[0][1])[1], "1",
                                              "blocks of consecutive frames behind the errors at this lag "
                                              "(0: none hold it, errors NaN)")},
            coords={"group": ("group", list(self.groups), {"units": "1", "long_name": "atom group: a species, "
                                                           "or com for the molecular centres of mass"}),
                    "lag_time": ("lag_time", lag, {"units": "picosecond", "long_name": "lag time"})})
        fits = [self._fit(name, lag, curve, per_block, blocks) for name, (curve, per_block) in zip(self.groups, curves)]
        d, d_err, start, stop, slope, used = (np.array(v) for v in zip(*fits))
        out.update(results.with_error("D", "group", d, d_err, "angstrom^2/picosecond",
                                      "self-diffusion coefficient (slope of msd / 6 over the fit window)"))
        out["fit_start"] = results.variable("group", start, "picosecond", "start of the fit window")
        out["fit_stop"] = results.variable("group", stop, "picosecond", "end of the fit window")
        out["fit_loglog_slope"] = results.variable("group", slope, "1", "log-log slope of msd across the fit "
                                                   "window (1: diffusive)")
        out["D_blocks"] = results.variable("group", used, "1", "blocks behind D_err (0: none hold the window)")
        params = self._yeh_hummer(out, runs) if self.viscosity is not None else {}
        return results.finish(out, "msd", n_frames=sum(lengths), n_runs=len(runs), time_step_ps=dt,
                              n_blocks=self.n_blocks, drift_removed=int(self.remove_drift),
                              fit_window="given" if self.fit != (None, None) else AUTOMATIC, **params)

    def _drifts(self, sources, runs, mapper):
        """Centre-of-mass motion (T, 3) Å of every run from its first frame, summed over atom chunks."""
        items = [(sources[r], lo) for r, ds in enumerate(runs) for lo in range(0, ds.sizes["atom"], self.chunk)]
        runs_of = [r for r, ds in enumerate(runs) for _ in range(0, ds.sizes["atom"], self.chunk)]
        totals = [0.0] * len(runs)
        for r, part in zip(runs_of, mapper(self._mass_weighted_sum, items)):
            totals[r] = totals[r] + part
        drifts = []
        for ds, total in zip(runs, totals):
            drift = total / ds["mass"].values.sum()
            drifts.append(drift - drift[0])
        return drifts

    def _mass_weighted_sum(self, item):
        """Sum of m r(t) (T, 3) over one atom chunk (item: run source, first atom)."""
        source, lo = item
        traj = trajectory_of(source)
        atoms = np.arange(lo, min(lo + self.chunk, traj.ds.sizes["atom"]))
        return np.einsum("tia,i->ta", traj.positions(atoms), traj.masses[atoms])

    def _chunk(self, item):
        """(MSD summed over the chunk's atoms (T,), per-block sums, atoms) of one chunk of one
        group in one run, minus the run's centre-of-mass drift unless None. item: (run source,
        run index, group index, first atom or molecule of the chunk, drift, LagBlocks)."""
        source, run, g, lo, drift, blocks = item
        group = list(self.groups.values())[g]
        coords = _group_positions(trajectory_of(source), group[lo:lo + self.chunk])
        if drift is not None:
            coords = coords - drift[:, None, :]
        if blocks.halves(run, len(coords)):  # the whole run's MSD from the FFTs of the two-block blocking
            total, halves = timeseries.msd_fft_halves(coords)
            per_block = blocks.curves(timeseries.msd_fft, coords, run, len(blocks.layout) - 1) + [np.array(halves)]
        else:
            total = timeseries.msd_fft(coords)
            per_block = blocks.curves(timeseries.msd_fft, coords, run)
        return total, per_block, coords.shape[1]

    def _fit(self, name, lag, curve, per_block, blocks):
        """(D, error, start, stop, log-log slope, blocks behind the error) of one group."""
        start, stop = self.fit
        if start is None and stop is None:
            start, stop = self._automatic(lag, curve, blocks)
        elif start is None:
            start = stop / 4
        elif stop is None:
            stop = lag[blocks.layout[-1][1] - 1]
        _check_window(start, stop, self.source)
        if stop > lag[-1] + 1e-12:
            raise InputError(f"fit window ends at {stop:g} ps, beyond the trajectory ({lag[-1]:g} ps)", self.source)
        window = (lag >= start - 1e-12) & (lag <= stop + 1e-12)
        if window.sum() < 2:
            raise InputError(f"fewer than 2 frames in the fit window {start:g} .. {stop:g} ps (frames every "
                             f"{lag[1]:g} ps): use a longer trajectory or a wider window", self.source)
        slope = window_slope(lag, curve, window)
        if not abs(slope - 1) <= SLOPE_TOLERANCE:
            motion = "ballistic" if slope > 1 else "caged"
            warn(f"{self.source or 'trajectory'}: msd of {name} is not linear in the fit window {start:g} .. {stop:g} ps "
                 f"(log-log slope {slope:.2f}, not 1: {motion} motion); D_{name} is not a diffusion coefficient: "
                 "use a longer trajectory or another --fit-start/--fit-stop")
        d = timeseries.linear_fit(lag[window], curve[window])[0] / 6
        k = blocks.blocking_for(np.flatnonzero(window)[-1])
        if k is None:
            warn(f"{self.source or 'trajectory'}: no two blocks hold the fit window of {name} (ends at {stop:g} ps, half "
                 f"the run is {lag[blocks.layout[-1][1] - 1]:g} ps): D_{name} has no error bar")
            return d, np.nan, start, stop, slope, 0
        n, length = blocks.layout[k]
        if n < self.n_blocks:
            warn(f"{self.source or 'trajectory'}: the error of D_{name} comes from {n} blocks only (the fit window ends "
                 f"beyond the {self.n_blocks}-block length {lag[blocks.layout[0][1] - 1]:g} ps): a rough estimate")
        block_slopes = timeseries.linear_fit(lag[window], per_block[k][:, window[:length]].T)[0]
        return d, standard_error(block_slopes) / 6, start, stop, slope, n

    def _automatic(self, lag, curve, blocks):
        """The default window: `diffusive_window` over the lags that n_blocks blocks hold, then
        fewer; else the former default, 20 % to 80 % of the lags that n_blocks blocks hold
        (then warned about as not linear), or, where that holds fewer than 2 lags (blocks of a
        few frames), every positive lag of the first blocking with at least 2 of them."""
        for _, length in blocks.layout:
            found = diffusive_window(lag, curve, length - 1)
            if found:
                return lag[found[0]], lag[found[1]]
        stop = 0.8 * lag[blocks.layout[0][1] - 1]
        if np.count_nonzero((lag >= stop / 4 - 1e-12) & (lag <= stop + 1e-12)) >= 2:
            return stop / 4, stop
        last = next((length - 1 for _, length in blocks.layout if length - 1 >= 2), len(lag) - 1)
        return lag[min(1, last)], lag[last]

    def _yeh_hummer(self, out, runs):
        """Add D_yeh_hummer (+ error, that of D); returns the parameters for the attributes."""
        temperature = self.temperature
        if temperature is None:
            if any("temperature" not in ds for ds in runs):
                raise InputError("the Yeh-Hummer correction needs a temperature (the trajectory has none; "
                                 "give --temperature)", self.source)
            temperature = float(np.concatenate([ds["temperature"].values for ds in runs]).mean())
        if any("cell" not in ds or not bool(ds["pbc"].values.any()) for ds in runs):
            raise InputError("the Yeh-Hummer correction needs a periodic cell", self.source)
        cells = np.concatenate([ds["cell"].values for ds in runs])
        corrected = yeh_hummer(out["D"].values, temperature, self.viscosity, cells, self.source)
        out.update(results.with_error("D_yeh_hummer", "group", corrected, out["D_err"].values,
                                      "angstrom^2/picosecond", "Yeh-Hummer finite-size corrected D",
                                      same_points_as="D"))
        return {"viscosity_mPas": self.viscosity, "temperature_K": temperature}


def _check_window(start, stop, source):
    """InputError unless the fit window bounds given (None: automatic) are finite, >= 0, in order."""
    bad = [b for b in (start, stop) if b is not None and not (np.isfinite(b) and b >= 0)]
    if bad or (start is not None and stop is not None and start >= stop):
        raise InputError(f"bad fit window {'auto' if start is None else f'{start:g}'} .. "
                         f"{'auto' if stop is None else f'{stop:g}'} ps (need finite 0 <= start < stop)", source)


def _group_positions(traj, part):
    """Unwrapped positions (T, k, 3) of part of a group: atoms (an index array) or molecular
    centres of mass (a list of index arrays)."""
    if isinstance(part, list):
        return np.stack([traj.centre_of_mass(m) for m in part], axis=1)
    return traj.positions(part)


def opened(source):
    """The Dataset of a run: `source` itself, or what calling it returns (a run's opener)."""
    return source() if callable(source) else source


_LAST = {}


def trajectory_of(source):
    """The Trajectory of a run source, kept for the next call with the same source (the
    chunks of one run reuse its cells and molecule offsets; a worker keeps its last run)."""
    if isinstance(source, functools.partial):
        key = (source.func, source.args, tuple(sorted(source.keywords.items())))
    else:
        key = id(source)  # the cache holds the source, so the id is not reused meanwhile
    if key not in _LAST:
        _LAST.clear()
        _LAST[key] = (source, Trajectory(opened(source)))
    return _LAST[key][1]
