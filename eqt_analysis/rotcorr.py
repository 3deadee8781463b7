"""Rotational relaxation of water dipole axes (result type `rotcorr`).

C_l(t) = <P_l(u(0)·u(t))> for l = 1, 2 (C1 = <u(0)·u(t)>, C2 = <P2(u(0)·u(t))>) of the unit
dipole axes u of the waters, over all time origins (FFT) and all waters, with block errors at
every lag that blocks hold (`blocks.LagBlocks`), and the integrated relaxation times tau_l
(ps): the integral of C_l up to its first zero. Where C_l stays positive to the end of the run
the integral stops there: tau_l is then a lower bound, flagged, with the value C_l reached.
"""
import numpy as np
import xarray as xr

from . import results, timeseries
from .blocks import LagBlocks, combine_runs, sum_chunks
from .diffusion import opened
from .molecules import water_dipole_axes
from .resources import check_memory
from .trajectory import iter_chunks, warn

ORDERS = (1, 2)


def dipole_axes(ds, waters, frames=256):
    """Unit dipole axes (T, n_water, 3) of the waters [O, H, H] of a (lazy) trajectory Dataset,
    read `frames` frames at a time."""
    out = []
    for chunk in iter_chunks(ds, frames):
        cells = chunk["cell"].values if "cell" in chunk else [None] * chunk.sizes["frame"]
        positions = chunk["positions"].values.astype(np.float64)
        out += [water_dipole_axes(p, c, waters) for p, c in zip(positions, cells)]
    return np.array(out)


def legendre_sums(u):
    """(C1, C2) curves (T,) of unit vectors u (T, n, 3), summed over the n vectors."""
    c1 = timeseries.summed_autocorrelation(u)
    pairs = np.einsum("tni,tnj->tnij", u, u).reshape(len(u), u.shape[1], 9)
    c2 = 1.5 * timeseries.summed_autocorrelation(pairs) - 0.5 * u.shape[1]
    return np.stack([c1, c2])


def legendre_correlations(u):
    """(C1, C2) curves (T,) of unit vectors u (T, n, 3), averaged over the n vectors."""
    return legendre_sums(u) / u.shape[1]


class RotationalCorrelation:
    """C1(t), C2(t) and tau_1, tau_2 of the waters of a system (n_blocks blocks for the errors;
    chunk: waters per FFT pass, for memory)."""

    def __init__(self, system, n_blocks=5, chunk=256):
        self.waters = system.require_waters("the rotational correlation follows water dipole axes")
        self.source, self.n_blocks, self.chunk = system.source, n_blocks, chunk

    def compute(self, runs, progress=None, mapper=map):
        """The `rotcorr` result of the trajectory `runs` (an eqt Dataset, or a list of runs of one
        system: C averaged over every time origin of every run, lags never spanning a join,
        errors from blocks cut within each run; a run may also be a function without arguments
        that opens it). mapper(function, items): results in order (map, or a cluster's map over
        the chunks of waters). progress: a tqdm-like bar (waters) or None."""
        sources = [runs] if isinstance(runs, xr.Dataset) or callable(runs) else list(runs)
        runs = [opened(source) for source in sources]
        dt = timeseries.runs_time_step(runs, self.source)
        lengths = [ds.sizes["frame"] for ds in runs]
        n_frames, n = max(lengths), len(self.waters)
        blocks = LagBlocks(lengths, self.n_blocks, self.source)
        chunk = min(n, self.chunk)
        check_memory(8 * n_frames * (9 * chunk + 8 * 9 * chunk),
                     f"dipole axes of {chunk} waters at a time over {n_frames} frames", self.source)
        if progress is not None:
            progress.total = n * len(runs)
        items = [(sources[r], r, lo, blocks) for r in range(len(runs)) for lo in range(0, n, self.chunk)]
        sums = sum_chunks([r for _, r, _, _ in items], mapper(self._chunk, items), progress)
        per_run = [(sums[r][0] / n, [b / n for b in sums[r][1]]) for r in range(len(runs))]
        c, per_block = combine_runs(per_run, n_frames)
        err, used = blocks.errors([np.moveaxis(b, 1, 2) for b in per_block])
        return self._result(c, err.T, used, dt, n, sum(lengths), len(runs))

    def _chunk(self, item):
        """(C sums (2, T), per-block sums, waters) of one chunk of waters in one run; item: (run
        source, run index, first water of the chunk, LagBlocks). Reads only the chunk's atoms."""
        source, run, lo, blocks = item
        waters = self.waters[lo:lo + self.chunk]
        part = opened(source).isel(atom=waters.ravel())
        u = timeseries.check_series(dipole_axes(part, np.arange(waters.size).reshape(-1, 3)), "dipole axes",
                                    self.source)
        return legendre_sums(u), blocks.curves(legendre_sums, u, run), len(waters)

    def _result(self, c, err, used, dt, n, n_frames, n_runs):
        lag = np.arange(c.shape[1]) * dt
        tau, lower, reached = [], [], []
        for order, curve in zip(ORDERS, c):
            decays = bool(np.any(curve <= 0))
            tau.append(timeseries.integrated_time(curve, dt))
            lower.append(int(not decays))
            reached.append(curve[np.argmax(curve <= 0)] if decays else curve[-1])
            if not decays:
                warn(f"{self.source or 'trajectory'}: C{order} has not decayed: it is still {curve[-1]:.3g} at the "
                     f"end of the run ({lag[-1]:g} ps), so tau_{order} = {tau[-1]:.4g} ps is a lower bound; "
                     "use a longer trajectory")
        ds = xr.Dataset(
            {**results.with_error("C", ("order", "lag_time"), c, err, "1",
                                  "dipole-axis correlation <P_l(u(0).u(t))>"),
             "error_blocks": results.variable("lag_time", used, "1", "blocks of consecutive frames behind the "
                                              "errors at this lag (0: none hold it, errors NaN)"),
             "tau": results.variable("order", tau, "picosecond", "integral of C up to its first zero (or to the "
                                     "end of the run: then a lower bound)"),
             "tau_lower_bound": results.variable("order", lower, "1", "1 where C has not decayed to zero within "
                                                 "the run, so tau is a lower bound"),
             "C_reached": results.variable("order", reached, "1", "C where the integral for tau stops: its "
                                           "first value <= 0, or its value at the end of the run")},
            coords={"order": ("order", list(ORDERS), {"units": "1", "long_name": "Legendre order l"}),
                    "lag_time": ("lag_time", lag, {"units": "picosecond", "long_name": "lag time"})})
        return results.finish(ds, "rotcorr", n_molecules=n, n_frames=n_frames, n_runs=n_runs, time_step_ps=dt,
                              n_blocks=self.n_blocks)
