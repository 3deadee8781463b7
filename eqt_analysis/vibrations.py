"""Velocity autocorrelation and vibrational density of states (result type `vdos`).

VACF_s(t) = <v_i(0)·v_i(t)> averaged over origins and the atoms of group s (a species, or
'total'; Å^2/ps^2), or mass-weighted <m_i v_i(0)·v_i(t)> converted to eV, with block errors at
every lag that blocks hold (`blocks.LagBlocks`). The VDOS is its one-sided spectrum
(`timeseries.spectrum`): integrated over frequency (cm^-1) it gives VACF(0), i.e. <v^2> per atom
or, mass-weighted, <m v^2> = 3 k_B T per atom in equilibrium (Parseval). Stored velocities are
used; without them, central differences of the unwrapped positions (with a warning).
"""
import numpy as np
import xarray as xr

from . import results, timeseries, units
from .blocks import LagBlocks, combine_runs, sum_chunks
from .diffusion import opened, trajectory_of
from .errors import InputError
from .trajectory import warn


def finite_difference_velocities(positions, dt):
    """Velocities (Å/ps) by central differences of unwrapped positions (T, n, 3); one-sided at
    the ends. Accurate only when frames are close compared with the fastest vibration."""
    return np.gradient(np.asarray(positions, dtype=float), dt, axis=0)


def check_sampling(dt, source=None):
    """Warn when frames are too far apart for O-H stretches (~3700 cm^-1)."""
    nyquist = 0.5 / dt / units.INV_CM
    if nyquist < 4000:
        warn(f"{source + ': ' if source else ''}time step {dt * 1e3:g} fs resolves frequencies only up to "
             f"{nyquist:.0f} cm^-1; faster vibrations alias into the spectrum")


class VDOS:
    """VACF and VDOS of atom groups.

    groups: a species selection ('O,H'), {name: atom indices}, or None (every species and
    'total'); mass_weighted: <m v.v> in eV; window: on the correlation before the transform
    (hann, blackman, none, ... scipy's names); fwhm: extra Gaussian broadening (cm^-1) or None;
    n_blocks: blocks of consecutive frames for the errors; chunk: atoms per FFT pass (memory);
    max_lag (ps): the VDOS from the VACF up to this lag only (window over it), with block errors
    (None: the whole run, no VDOS errors).
    """

    def __init__(self, system, groups=None, mass_weighted=False, window="hann", fwhm=None, n_blocks=5, chunk=256,
                 max_lag=None):
        self.source = system.source
        self.summed_total = groups is None  # "total": the species' sums added, not a second pass over every atom
        if isinstance(groups, dict):
            self.groups = {name: np.asarray(atoms) for name, atoms in groups.items()}
        else:
            self.groups = {s: system.indices(s) for s in system.select(groups)}
            if groups is None:
                self.groups["total"] = np.arange(system.n_atoms)
        if fwhm is not None:
            fwhm = timeseries.check_positive(fwhm, "the broadening fwhm (cm^-1)", self.source)
        timeseries.window(window, 2)  # an unknown window is refused before any work
        if max_lag is not None:
            max_lag = timeseries.check_positive(max_lag, "the correlation window --max-lag (ps)", self.source)
        self.mass_weighted, self.window, self.fwhm, self.n_blocks, self.chunk, self.max_lag = (
            mass_weighted, window, fwhm, n_blocks, chunk, max_lag)

    def compute(self, runs, progress=None, mapper=map):
        """The `vdos` result of the trajectory `runs` (an eqt Dataset, or a list of runs of one
        system: the VACF averaged over every time origin of every run, lags never spanning a
        join, errors from blocks cut within each run; lazy eqt Datasets are read atom chunk by
        chunk; a run may also be a function without arguments that opens it). mapper(function,
        items): results in order (map, or a cluster's map over the atom chunks). progress: a
        tqdm-like bar (atoms) or None."""
        sources = [runs] if isinstance(runs, xr.Dataset) or callable(runs) else list(runs)
        runs = [opened(source) for source in sources]
        dt = timeseries.runs_time_step(runs, self.source)
        check_sampling(dt, self.source)
        lengths = [ds.sizes["frame"] for ds in runs]
        blocks = LagBlocks(lengths, self.n_blocks, self.source)
        n_lags, k = (max(lengths), None) if self.max_lag is None else \
            timeseries.spectrum_lags(self.max_lag, dt, blocks, self.source)  # refused before any work
        for name, atoms in self.groups.items():
            if len(atoms) == 0:
                raise InputError(f"no atoms in group {name}", self.source)
        stored = all("velocities" in ds for ds in runs)
        if not stored:
            warn(f"{self.source or 'trajectory'}: no velocities stored; using central differences of positions every "
                 f"{dt * 1e3:g} fs (store velocities for exact spectra)")
        computed = {name: atoms for name, atoms in self.groups.items() if not (self.summed_total and name == "total")}
        if progress is not None:
            progress.total = sum(len(atoms) for atoms in computed.values()) * len(runs)
        items = [(sources[r], r, name, lo, blocks, dt) for r in range(len(runs)) for name, atoms in computed.items()
                 for lo in range(0, len(atoms), self.chunk)]
        sums = sum_chunks([(r, name) for _, r, name, _, _, _ in items], mapper(self._chunk, items), progress)
        if self.summed_total:  # the species partition the atoms
            for r in range(len(runs)):
                parts = [sums[(r, name)] for name in computed]
                sums[(r, "total")] = (sum(p[0] for p in parts), [sum(b) for b in zip(*(p[1] for p in parts))],
                                      sum(p[2] for p in parts))
        vacf, err, spec_err = [], [], []
        for name, atoms in self.groups.items():
            per_run = [(sums[(r, name)][0] / len(atoms), [b / len(atoms) for b in sums[(r, name)][1]])
                       for r in range(len(runs))]
            curve, per_block = combine_runs(per_run, max(lengths))
            vacf.append(curve)
            e, used = blocks.errors(per_block)
            err.append(e)
            if k is not None:
                spec_err.append(timeseries.block_spectrum_error(per_block[k], n_lags, dt, self.window, self.fwhm))
        spectra = [timeseries.spectrum(c[:n_lags], dt, self.window, self.fwhm) for c in vacf]
        vdos_err = (np.array([e for e, _ in spec_err]), spec_err[0][1]) if spec_err else None
        return self._result(np.array(vacf), np.array(err), used, spectra[0][0], np.array([s for _, s in spectra]),
                            vdos_err, dt, "stored" if stored else "central differences of positions", sum(lengths),
                            len(runs), (n_lags - 1) * dt)

    def _chunk(self, item):
        """(VACF summed over the chunk's atoms (T,), per-block sums, atoms) of one chunk of one
        group in one run. item: (run source, run index, group name, first atom, LagBlocks, dt ps)."""
        source, run, name, lo, blocks, dt = item
        ds = opened(source)
        part = self.groups[name][lo:lo + self.chunk]
        if "velocities" in ds:
            v = ds["velocities"].isel(atom=part).values
        else:
            v = finite_difference_velocities(trajectory_of(source).positions(part), dt)
        v = timeseries.check_series(v, "velocities", self.source)
        w = units.AMU_A2_PS2 * ds["mass"].values[part] if self.mass_weighted else np.ones(len(part))

        def summed(x):
            return timeseries.summed_autocorrelation(x, w[:, None])

        return summed(v), blocks.curves(summed, v, run), len(part)

    def _result(self, vacf, err, used, freq, spec, spec_err, dt, velocities, n_frames, n_runs, max_lag):
        unit = "electronvolt" if self.mass_weighted else "angstrom^2/picosecond^2"
        long = "vibrational density of states per atom (integral over cm^-1 = vacf at lag 0)"
        if spec_err is None:
            vdos = {"vdos": results.variable(("species", "frequency"), spec, f"{unit} cm", long)}
        else:
            vdos = {**results.with_error("vdos", ("species", "frequency"), spec, spec_err[0], f"{unit} cm", long),
                    "vdos_blocks": results.variable((), spec_err[1], "1", "blocks behind the VDOS errors")}
        ds = xr.Dataset(
            {**results.with_error("vacf", ("species", "lag_time"), vacf, err, unit,
                                  "mass-weighted velocity autocorrelation <m v(0).v(t)>" if self.mass_weighted
                                  else "velocity autocorrelation <v(0).v(t)>"),
             "error_blocks": results.variable("lag_time", used, "1", "blocks of consecutive frames behind the "
                                              "errors at this lag (0: none hold it, errors NaN)"),
             **vdos},
            coords={"species": ("species", list(self.groups), {"units": "1", "long_name": "atom group: a species, "
                                                               "or total for all atoms"}),
                    "lag_time": ("lag_time", np.arange(vacf.shape[1]) * dt, {"units": "picosecond",
                                                                            "long_name": "lag time"}),
                    "frequency": ("frequency", freq, {"units": "cm^-1", "long_name": "wavenumber"}),
                    "frequency_THz": ("frequency", freq * units.INV_CM, {"units": "THz", "long_name": "frequency"})})
        return results.finish(
            ds, "vdos", window=self.window, broadening_fwhm_cm=float(self.fwhm or 0.0),
            mass_weighted=int(self.mass_weighted), time_step_ps=dt, nyquist_cm=float(0.5 / dt / units.INV_CM),
            n_blocks=self.n_blocks, velocities=velocities, n_frames=n_frames, n_runs=n_runs,
            max_lag_ps=float(max_lag) if self.max_lag is not None else 0.0,
            normalization="one-sided spectrum per atom; integral over frequency (cm^-1) equals vacf at lag 0 "
                          "(<v^2>, or <m v^2> = 3 kT when mass-weighted)")
