"""Rotational relaxation of molecular dipole axes: C1(t) = <u(0)·u(t)> and
C2(t) = <P2(u(0)·u(t))>, over all time origins (FFT) and all waters, with block errors and
integrated relaxation times."""
import numpy as np
import xarray as xr

from . import timeseries
from .molecules import water_dipole_axes


def dipole_axes(chunks, waters):
    """Unit dipole axes (T, n_water, 3) of the waters, streamed from trajectory chunks."""
    out = []
    for ds in chunks:
        cells = ds["cell"].values if "cell" in ds else [None] * ds.sizes["frame"]
        out += [water_dipole_axes(p, c, waters) for p, c in zip(ds["positions"].values, cells)]
    return np.array(out)


def legendre_correlations(u):
    """(C1, C2) curves (T,) of unit vectors u (T, n, 3), averaged over the n vectors."""
    c1 = timeseries.autocorrelation(u).sum(axis=-1).mean(axis=1)
    pairs = np.einsum("tni,tnj->tnij", u, u).reshape(len(u), u.shape[1], 9)
    c2 = 1.5 * timeseries.autocorrelation(pairs).sum(axis=-1).mean(axis=1) - 0.5
    return c1, c2


def rotational_correlation(u, dt, n_blocks=5, source=None):
    """Dataset of C1, C2 (with block errors) on lag_time (ps) and their integrated times (ps).

    u: unit dipole axes (T, n, 3), T making n_blocks blocks of at least 2 frames; dt: time
    step (ps). source: the file for messages.
    """
    u = timeseries.check_series(u, "dipole axes", source)
    dt = timeseries.check_positive(dt, "the time step (ps)", source)
    timeseries.check_blocks(len(u), n_blocks, source)
    c1, c2 = legendre_correlations(u)
    err1, _ = timeseries.block_error(lambda x: legendre_correlations(x)[0], u, n_blocks, source)
    err2, _ = timeseries.block_error(lambda x: legendre_correlations(x)[1], u, n_blocks, source)
    lag = np.arange(len(u)) * dt
    ds = xr.Dataset(coords={"lag_time": ("lag_time", lag, {"units": "picosecond"})})
    for name, c, e, text in (("C1", c1, err1, "<u(0).u(t)>"), ("C2", c2, err2, "<P2(u(0).u(t))>")):
        ds[name] = ("lag_time", c, {"units": "1", "long_name": f"dipole-axis correlation {text}"})
        ds[name + "_err"] = ("lag_time", e, {"units": "1", "long_name": f"standard error (blocks) of {name}"})
        ds[f"tau_{name}"] = ((), timeseries.integrated_time(c, dt),
                             {"units": "picosecond", "long_name": f"integral of {name} up to its first zero"})
    ds.attrs.update(n_molecules=u.shape[1], n_frames=len(u), time_step_ps=dt, n_blocks=n_blocks)
    return ds
