"""Lab-frame distribution of molecular dipole directions, and whether it is isotropic.

Each water's dipole axis u (H-H midpoint minus O, normalized, minimum image) gives a point
(cos θ, φ) = (u_z, atan2(u_y, u_x)) on the sphere; equal areas of the (cos θ, φ) rectangle
[-1, 1] x [-π, π) are equal solid angles, so a rotationally invariant model samples it
uniformly. The density is a Gaussian kernel estimate, a product of Gaussians of width h_c
in cos θ (reflecting walls at cos θ = ±1) and h_φ in φ (radian, periodic), scaled so that
the uniform distribution is P = 1 everywhere; F = -ln P is its free energy in units of kT.
By default h_φ = π h_c (the same length on the equator); the study's estimator (Langer et
al. 2024) is h_c = 0.1, h_φ = 0.1 rad.

The verdict uses coarse equal-area cells (independent of the kernel) and B complete blocks of
consecutive frames (which absorb time correlation). For an isotropic distribution every cell
has the same P = 1 and the same spread, so the block variance is pooled over the n cells:
s^2 = sum_b sum_c (P_bc - mean_c)^2 / ((B - 1)(n - 1)), chi2 = sum_c (mean_c - 1)^2 / (s^2 / B),
and chi2 / (n - 1) follows the F distribution with n - 1 and (B - 1)(n - 1) degrees of freedom
(the per-cell errors, with B - 1 degrees of freedom each, would make chi2 heavy-tailed and call
isotropic runs anisotropic when B is small). The verdict needs at least 2 complete blocks
(2 frames with automatic blocks): with fewer, `result` refuses, since chi2 and p would be
undefined.

`Angles` keeps θ, φ and cos θ of every water in every frame instead (result type 'angles').
"""
import numba
import numpy as np
import xarray as xr
from scipy.stats import f as f_dist

from . import results
from .blocks import Blocks
from .errors import InputError
from .molecules import water_dipole_axes
from .resources import check_memory
from .spreading import add_gaussian

MAX_BANDWIDTH = 0.3  # in cos θ: one reflection per wall suffices (5 widths < 2)
MAX_BANDWIDTH_PHI = np.pi * MAX_BANDWIDTH  # radian: one periodic image per side suffices


def isotropy_chi2(per_block):
    """(chi2, dof, dof_error) of coarse-cell P per block (B arrays of n equal-area cells) against
    P = 1, with the block variance pooled over the cells (module doc): chi2 / dof follows
    F(dof, dof_error) for an isotropic distribution. No spread at all: chi2 = 0 if every cell
    has P = 1, else inf."""
    p = np.asarray(per_block, float).reshape(len(per_block), -1)
    n_blocks, n_cells = p.shape
    mean = p.mean(axis=0)
    dof, dof_error = n_cells - 1, (n_blocks - 1) * (n_cells - 1)
    pooled = np.sum((p - mean) ** 2) / dof_error
    deviation = np.sum((mean - 1.0) ** 2)
    if pooled == 0:
        return (0.0 if deviation == 0 else np.inf), dof, dof_error
    return float(deviation / (pooled / n_blocks)), dof, dof_error


def angles(u):
    """(cos θ, φ) of unit vectors (n, 3); φ in [-π, π)."""
    return np.clip(u[:, 2], -1.0, 1.0), np.arctan2(u[:, 1], u[:, 0])


def grid(n, lo, hi):
    """Centres of n equal cells on [lo, hi)."""
    return lo + (np.arange(n) + 0.5) * (hi - lo) / n


@numba.njit(cache=True)
def _kernel_rows(x, h, centres, reflect, period, out):
    """out[s] (n_grid,) = sum over images of the unnormalized Gaussian of width h at sample
    x[s] on the grid: images x, 2 - x, -2 - x (reflect, cos θ) or x, x ± period (φ)."""
    one = np.ones(1)
    for s in range(x.shape[0]):
        if reflect:
            copies = (x[s], 2.0 - x[s], -2.0 - x[s])
        else:
            copies = (x[s], x[s] + period, x[s] - period)
        for c in copies:
            add_gaussian(out[s:s + 1], c, h, centres, one)


def _kde(cos_t, phi, cos_grid, phi_grid, h_c, h_p):
    """Kernel density (n_cos, n_phi) of the samples on the grid, normalized to unit mass on
    [-1, 1] x [-π, π): a product of Gaussian rows in cos θ and φ, summed by one matrix product."""
    rows_c = np.zeros((len(cos_t), len(cos_grid)))
    rows_p = np.zeros((len(phi), len(phi_grid)))
    _kernel_rows(np.asarray(cos_t, float), h_c, cos_grid, True, 0.0, rows_c)
    _kernel_rows(np.asarray(phi, float), h_p, phi_grid, False, 2.0 * np.pi, rows_p)
    return rows_c.T @ rows_p / (2.0 * np.pi * h_c * h_p)


def _axes_of_frames(positions, cells, waters):
    """Dipole axes (n_water, 3) of each frame (cells (F, 3, 3) Å or None)."""
    for f, pos in enumerate(positions):
        yield water_dipole_axes(pos, None if cells is None else cells[f], waters)


class Orientation:
    """Accumulate dipole directions of the waters over frames.

    system: the System (its waters; source for messages); n_cos, n_phi: kernel grid;
    bandwidth: h_c (cos θ); bandwidth_phi: h_φ in radian (None: π h_c); coarse: (cells in
    cos θ, cells in φ) for the chi-square; block_frames: frames per block (None: automatic).
    Refuses (InputError) a system without water and a grid that needs more memory than the
    machine has.
    """

    def __init__(self, system, n_cos=50, n_phi=100, bandwidth=0.1, bandwidth_phi=None, coarse=(4, 8),
                 block_frames=None):
        source = self.source = system.source
        self.waters = system.require_waters("the orientation is that of each water's dipole axis")
        h_p = np.pi * bandwidth if bandwidth_phi is None else bandwidth_phi
        if not (np.isfinite(bandwidth) and 0 < bandwidth <= MAX_BANDWIDTH) or n_cos < 2 or n_phi < 2:
            raise InputError(f"bandwidth must be in (0, {MAX_BANDWIDTH}] (got {bandwidth:g}) and the grid at least "
                             "2 x 2", source)
        if not (np.isfinite(h_p) and 0 < h_p <= MAX_BANDWIDTH_PHI):
            raise InputError(f"bandwidth in phi must be in (0, {MAX_BANDWIDTH_PHI:.4g}] radian, got {h_p:g}", source)
        if min(coarse) < 1:
            raise InputError(f"coarse cells must be at least 1 x 1, got {coarse[0]} x {coarse[1]}", source)
        check_memory(memory_needed(len(self.waters), n_cos, n_phi, coarse),
                     f"a {n_cos} x {n_phi} grid with {coarse[0]} x {coarse[1]} cells", source)
        self.cos_grid, self.phi_grid = grid(n_cos, -1.0, 1.0), grid(n_phi, -np.pi, np.pi)
        self.h_c, self.h_p = bandwidth, h_p
        self.coarse = tuple(coarse)
        self.blocks = Blocks(block_frames)

    def add(self, positions, cell=None):
        """Add one frame (positions (n_atoms, 3) Å, cell (3, 3) Å or None)."""
        self.add_frames(np.asarray(positions)[None], None if cell is None else np.asarray(cell)[None])

    def add_chunk(self, ds):
        """Add every frame of an eqt trajectory chunk."""
        self.add_frames(ds["positions"].values, ds["cell"].values if "cell" in ds else None)

    def add_frames(self, positions, cells=None):
        """Add frames: positions (F, n_atoms, 3) Å, cells (F, 3, 3) Å or None."""
        for u in _axes_of_frames(positions, cells, self.waters):
            cos_t, phi = angles(u)
            kde = _kde(cos_t, phi, self.cos_grid, self.phi_grid, self.h_c, self.h_p)
            counts, _, _ = np.histogram2d(cos_t, phi, bins=self.coarse, range=[[-1, 1], [-np.pi, np.pi]])
            self.blocks.add({"kde": kde, "coarse": counts, "samples": np.array(float(len(cos_t)))})

    def _normalize(self, sums):
        n = sums["samples"]
        p = sums["kde"] / n * 4.0 * np.pi
        with np.errstate(divide="ignore"):
            f = -np.log(p)
        return {"P": p, "F": f, "P_coarse": sums["coarse"] / n * (self.coarse[0] * self.coarse[1])}

    def result(self):
        """The result Dataset (result type 'orient', docs/results.md): P, F, coarse-cell P with
        errors, and the verdict; InputError with fewer than 2 complete blocks of frames."""
        if self.blocks.n_frames == 0:
            raise InputError("no frames", self.source)
        if len(self.blocks.blocks) < 2:
            raise InputError(f"{self.blocks.n_frames} frame(s) make {len(self.blocks.blocks)} complete block(s) of "
                             f"{self.blocks.block_frames} frames: the isotropy test needs at least 2 (its chi2 and "
                             "p-value come from the spread between blocks); use more frames or a smaller "
                             "--block-frames", self.source)
        value, err = self.blocks.estimate(self._normalize, self.source)
        chi2, dof, dof_error = isotropy_chi2([self._normalize(b)["P_coarse"] for b in self.blocks.blocks])
        f = value["F"][np.isfinite(value["F"])]
        grid2, cells = ("cos_theta", "phi"), ("cos_theta_cell", "phi_cell")
        ds = xr.Dataset(
            {**results.with_error("P", grid2, value["P"], err["P"], "1",
                                  "probability density of dipole directions relative to uniform (1 = isotropic)"),
             **results.with_error("F", grid2, value["F"], err["F"], "kT", "free energy -ln P", same_points_as="P"),
             **results.with_error("P_coarse", cells, value["P_coarse"], err["P_coarse"], "1",
                                  "P in coarse equal-area cells (for the chi-square)"),
             "chi2": results.variable((), chi2, "1", "chi-square of the coarse-cell P against 1"),
             "p_value": results.variable((), f_dist.sf(chi2 / dof, dof, dof_error), "1",
                                         "p-value of chi2 for an isotropic distribution"),
             "max_abs_F": results.variable((), np.max(np.abs(f)) if f.size else np.inf, "kT", "largest |F|"),
             "rms_F": results.variable((), np.sqrt(np.mean(f**2)) if f.size else np.inf, "kT",
                                       "root mean square of F")},
            coords={
                "cos_theta": results.variable("cos_theta", self.cos_grid, "1",
                                              "cosine of the polar angle of the dipole axis"),
                "phi": results.variable("phi", self.phi_grid, "radian", "azimuth of the dipole axis"),
                "cos_theta_cell": results.variable("cos_theta_cell", grid(self.coarse[0], -1.0, 1.0), "1",
                                                   "cos θ at the centre of a coarse cell"),
                "phi_cell": results.variable("phi_cell", grid(self.coarse[1], -np.pi, np.pi), "radian",
                                             "φ at the centre of a coarse cell")})
        return results.finish(
            ds, "orient", dof=dof, dof_error=dof_error, n_samples=int(self.blocks.total["samples"]), n_frames=self.blocks.n_frames,
            n_blocks=len(self.blocks.blocks), block_frames=self.blocks.block_frames,
            error_growth_2x=self.blocks.error_growth(self._normalize, "P_coarse"),
            bandwidth_cos_theta=self.h_c, bandwidth_phi=self.h_p,
            kernel="gaussian, reflecting at cos_theta = +-1, periodic in phi")


def memory_needed(n_waters, n_cos, n_phi, coarse, max_blocks=64):
    """Bytes an Orientation holds: grid and coarse cells for the total, the open block, up to
    max_blocks blocks and their normalized copies, plus one frame's kernel rows."""
    per_sum = n_cos * n_phi + coarse[0] * coarse[1] + 1
    return 8 * (per_sum * (2 * max_blocks + 4) + n_waters * (n_cos + n_phi) + 2 * n_cos * n_phi)


class Angles:
    """θ, φ and cos θ of every water's dipole axis in every frame (result type 'angles').

    system: the System (its waters; source for messages). Holds 3 numbers per water and
    frame in memory."""

    def __init__(self, system):
        self.source = system.source
        self.waters = system.require_waters("the angles are those of each water's dipole axis")
        self.cos_theta, self.phi, self.time = [], [], []

    def add_chunk(self, ds):
        """Add every frame of an eqt trajectory chunk."""
        for u in _axes_of_frames(ds["positions"].values, ds["cell"].values if "cell" in ds else None, self.waters):
            cos_t, phi = angles(u)
            self.cos_theta.append(cos_t)
            self.phi.append(phi)
        if "time" in ds.coords:
            self.time.append(ds["time"].values)

    def result(self):
        """The result Dataset (result type 'angles', docs/results.md)."""
        if not self.cos_theta:
            raise InputError("no frames", self.source)
        cos_t, phi = np.array(self.cos_theta), np.array(self.phi)
        dims = ("frame", "molecule")
        coords = {"oxygen_index": results.variable("molecule", self.waters[:, 0], "1",
                                                   "atom index (0-based) of the water's oxygen")}
        if self.time:
            coords["time"] = results.variable("frame", np.concatenate(self.time), "picosecond", "time")
        ds = xr.Dataset({
            "theta": results.variable(dims, np.arccos(cos_t), "radian", "polar angle θ of the dipole axis"),
            "phi": results.variable(dims, phi, "radian", "azimuth φ of the dipole axis, in [-π, π)"),
            "cos_theta": results.variable(dims, cos_t, "1", "cos θ of the dipole axis"),
        }, coords=coords)
        return results.finish(ds, "angles", n_frames=len(cos_t), n_molecules=len(self.waters))
