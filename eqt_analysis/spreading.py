"""Gaussian spreading of weighted samples onto a uniform grid (the kernel estimates of the RDF
and of the orientation density share it).

A sample at x with amplitudes a_v adds a_v exp(-(grid_k - x)^2 / 2h^2) to out[v, k] for the
grid points within KERNEL_REACH h of x (the Gaussian is cut at exp(-12.5) = 4e-6 of its
peak). The Gaussian is not normalized: callers scale the amplitudes (1 / (h sqrt(2 pi)) for a
unit-mass kernel). x, h and the grid share one unit; the grid is uniform and ascending.
"""
import numba
import numpy as np

KERNEL_REACH = 5.0


@numba.njit(cache=True, inline="always")
def add_gaussian(out, x, h, grid, amplitudes):
    """out (n_values, n_grid) += amplitudes (n_values,) x the Gaussian of width h at x on grid."""
    n = grid.shape[0]
    step = grid[1] - grid[0]
    reach = KERNEL_REACH * h
    lo = max(0, int(np.ceil((x - reach - grid[0]) / step)))
    hi = min(n, int(np.floor((x + reach - grid[0]) / step)) + 1)
    for k in range(lo, hi):
        z = (grid[k] - x) / h
        g = np.exp(-0.5 * z * z)
        for v in range(out.shape[0]):
            out[v, k] += g * amplitudes[v]


@numba.njit(cache=True)
def spread(x, amplitudes, h, grid, out):
    """out (n_values, n_grid) += the Gaussians of width h at the samples x (n,), with
    amplitudes (n, n_values)."""
    for s in range(x.shape[0]):
        add_gaussian(out, x[s], h, grid, amplitudes[s])
