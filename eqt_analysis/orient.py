"""Lab-frame distribution of molecular dipole directions, and whether it is isotropic.

Each water's dipole axis u (H-H midpoint minus O, normalized, minimum image) gives a point
(cos θ, φ) = (u_z, atan2(u_y, u_x)) on the sphere; equal areas of the (cos θ, φ) rectangle
[-1, 1] x [-π, π) are equal solid angles, so a rotationally invariant model samples it
uniformly. The density is a Gaussian kernel estimate (widths h_c in cos θ and h_φ in rad)
with reflecting walls at cos θ = ±1 and periodic φ, scaled so that the uniform
distribution is P = 1 everywhere; F = -ln P is its free energy in units of kT.

The verdict uses coarse equal-area cells (independent of the kernel): the per-cell P and
its block standard error give chi2 = sum ((P - 1) / err)^2 with n_cells - 1 degrees of
freedom and its p-value; blocks of consecutive frames absorb time correlation. The verdict
needs at least 2 complete blocks (2 frames with automatic blocks): with fewer, `result`
refuses, since chi2 and p would be undefined.
"""
import numba
import numpy as np
import xarray as xr
from scipy.stats import chi2 as chi2_dist

from .blocks import Blocks
from .errors import InputError
from .molecules import water_dipole_axes
from .resources import check_memory

KERNEL_REACH = 5.0  # Gaussians cut at 5 widths (exp(-12.5) = 4e-6 of the peak)
MAX_BANDWIDTH = 0.3  # one reflection per wall and one periodic image per side suffice


def angles(u):
    """(cos θ, φ) of unit vectors (n, 3); φ in [-π, π)."""
    return np.clip(u[:, 2], -1.0, 1.0), np.arctan2(u[:, 1], u[:, 0])


@numba.njit(cache=True)
def _kernel_rows(x, centres, h, period, images, out):
    """out[s, k] = sum over images of exp(-(centres[k] - image_s)^2 / 2h^2) on a uniform grid,
    visiting only grid points within KERNEL_REACH h. images: 0 = reflections at -1 and +1
    (cos θ), 1 = periodic copies +-period (φ)."""
    n = centres.shape[0]
    step = centres[1] - centres[0]
    reach = KERNEL_REACH * h
    for s in range(x.shape[0]):
        if images == 0:
            copies = (x[s], 2.0 - x[s], -2.0 - x[s])
        else:
            copies = (x[s], x[s] + period, x[s] - period)
        for c in copies:
            lo = max(0, int(np.ceil((c - reach - centres[0]) / step)))
            hi = min(n, int(np.floor((c + reach - centres[0]) / step)) + 1)
            for k in range(lo, hi):
                z = (centres[k] - c) / h
                out[s, k] += np.exp(-0.5 * z * z)


def _kde(cos_t, phi, n_cos, n_phi, h_c, h_p):
    """Kernel density (n_cos, n_phi) of the samples on the grid, normalized to unit mass on
    [-1, 1] x [-π, π): a product of Gaussian rows in cos θ and φ, summed by one matrix product."""
    cos_grid = -1.0 + (np.arange(n_cos) + 0.5) * 2.0 / n_cos
    phi_grid = -np.pi + (np.arange(n_phi) + 0.5) * 2.0 * np.pi / n_phi
    rows_c = np.zeros((len(cos_t), n_cos))
    rows_p = np.zeros((len(phi), n_phi))
    _kernel_rows(np.asarray(cos_t, float), cos_grid, h_c, 0.0, 0, rows_c)
    _kernel_rows(np.asarray(phi, float), phi_grid, h_p, 2.0 * np.pi, 1, rows_p)
    return rows_c.T @ rows_p / (2.0 * np.pi * h_c * h_p)


class Orientation:
    """Accumulate dipole directions of the waters over frames.

    waters: (n_water, 3) atom indices [O, H, H] (molecules.find_waters); n_cos, n_phi: kernel grid; bandwidth: h_c (cos θ), with
    h_φ = π h_c (same length on the equator); coarse: (cells in cos θ, cells in φ) for the
    chi-square; block_frames: frames per block (None: automatic); source: the file for
    messages. Refuses (InputError) a grid that needs more memory than the machine has.
    """

    def __init__(self, waters, n_cos=50, n_phi=100, bandwidth=0.1, coarse=(4, 8), block_frames=None,
                 source=None):
        self.source = source
        self.waters = np.asarray(waters)
        if len(self.waters) == 0:
            raise InputError("no water molecules (an O with its two nearest H) to take a dipole axis from", source)
        if not (np.isfinite(bandwidth) and 0 < bandwidth <= MAX_BANDWIDTH) or n_cos < 2 or n_phi < 2:
            raise InputError(f"bandwidth must be in (0, {MAX_BANDWIDTH}] (got {bandwidth:g}) and the grid at least "
                             "2 x 2", source)
        if min(coarse) < 1:
            raise InputError(f"coarse cells must be at least 1 x 1, got {coarse[0]} x {coarse[1]}", source)
        check_memory(memory_needed(len(self.waters), n_cos, n_phi, coarse),
                     f"a {n_cos} x {n_phi} grid with {coarse[0]} x {coarse[1]} cells", source)
        self.n_cos, self.n_phi, self.h_c, self.h_p = n_cos, n_phi, bandwidth, np.pi * bandwidth
        self.coarse = coarse
        self.blocks = Blocks(block_frames)

    def add(self, positions, cell=None):
        """Add one frame (positions (n_atoms, 3) Å, cell (3, 3) Å or None)."""
        cos_t, phi = angles(water_dipole_axes(positions, cell, self.waters))
        grid = _kde(cos_t, phi, self.n_cos, self.n_phi, self.h_c, self.h_p)
        counts, _, _ = np.histogram2d(cos_t, phi, bins=self.coarse, range=[[-1, 1], [-np.pi, np.pi]])
        self.blocks.add({"kde": grid, "coarse": counts, "samples": np.array(float(len(cos_t)))})

    def add_chunk(self, ds):
        cells = ds["cell"].values if "cell" in ds else [None] * ds.sizes["frame"]
        for pos, box in zip(ds["positions"].values, cells):
            self.add(pos, box)

    def _normalize(self, sums):
        n = sums["samples"]
        p = sums["kde"] / n * 4.0 * np.pi
        with np.errstate(divide="ignore"):
            f = -np.log(p)
        cells = self.coarse[0] * self.coarse[1]
        return {"P": p, "F": f, "P_coarse": sums["coarse"] / n * cells}

    def result(self):
        """The distribution, its errors and the verdict (attributes chi2, dof, p_value, ...);
        InputError with fewer than 2 complete blocks of frames."""
        if self.blocks.n_frames == 0:
            raise InputError("no frames", self.source)
        if len(self.blocks.blocks) < 2:
            raise InputError(f"{self.blocks.n_frames} frame(s) make {len(self.blocks.blocks)} complete block(s) of "
                             f"{self.blocks.block_frames} frames: the isotropy test needs at least 2 (its chi2 and "
                             "p-value come from the spread between blocks); use more frames or a smaller --block",
                             self.source)
        value, err = self.blocks.estimate(self._normalize, self.source)
        cos_c = -1.0 + (np.arange(self.n_cos) + 0.5) * 2.0 / self.n_cos
        phi_c = -np.pi + (np.arange(self.n_phi) + 0.5) * 2.0 * np.pi / self.n_phi
        ds = xr.Dataset(coords={
            "cos_theta": ("cos_theta", cos_c, {"units": "1", "long_name": "cos of polar angle of the dipole axis"}),
            "phi": ("phi", phi_c, {"units": "radian", "long_name": "azimuth of the dipole axis"}),
            "cos_theta_cell": ("cos_theta_cell", -1 + (np.arange(self.coarse[0]) + 0.5) * 2 / self.coarse[0]),
            "phi_cell": ("phi_cell", -np.pi + (np.arange(self.coarse[1]) + 0.5) * 2 * np.pi / self.coarse[1]),
        })
        meta = {"P": ("probability density relative to uniform (1 = isotropic)", ("cos_theta", "phi")),
                "F": ("free energy -ln P", ("cos_theta", "phi")),
                "P_coarse": ("P in coarse equal-area cells (for the chi-square)", ("cos_theta_cell", "phi_cell"))}
        for key, (long_name, dims) in meta.items():
            units = "kT" if key == "F" else "1"
            ds[key] = (dims, value[key], {"units": units, "long_name": long_name})
            ds[key + "_err"] = (dims, err[key], {"units": units, "long_name": f"standard error (blocks) of {key}"})
        deviation = value["P_coarse"] - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):  # a cell with no spread: inf, or 0 if P = 1
            chi2 = float(np.sum(np.where(deviation == 0, 0.0, (deviation / err["P_coarse"]) ** 2)))
        dof = self.coarse[0] * self.coarse[1] - 1
        f = value["F"][np.isfinite(value["F"])]
        ds.attrs.update(
            chi2=chi2, dof=dof, p_value=float(chi2_dist.sf(chi2, dof)),
            max_abs_F=float(np.max(np.abs(f))) if f.size else float("inf"),
            rms_F=float(np.sqrt(np.mean(f**2))) if f.size else float("inf"),
            n_samples=int(self.blocks.total["samples"]), n_frames=self.blocks.n_frames,
            n_blocks=len(self.blocks.blocks), block_frames=self.blocks.block_frames,
            error_growth_2x=self.blocks.error_growth(self._normalize, "P_coarse"),
            bandwidth_cos_theta=self.h_c, bandwidth_phi=self.h_p,
            kernel="gaussian, reflecting at cos_theta = +-1, periodic in phi")
        return ds


def memory_needed(n_waters, n_cos, n_phi, coarse, max_blocks=64):
    """Bytes an Orientation holds: grid and coarse cells for the total, the open block, up to
    max_blocks blocks and their normalized copies, plus one frame's kernel rows."""
    per_sum = n_cos * n_phi + coarse[0] * coarse[1] + 1
    return 8 * (per_sum * (2 * max_blocks + 4) + n_waters * (n_cos + n_phi) + 2 * n_cos * n_phi)


def molecule_angles(ds, waters):
    """θ, φ (radian) and cos θ of every water's dipole axis in every frame of a chunk."""
    cells = ds["cell"].values if "cell" in ds else [None] * ds.sizes["frame"]
    cos_t, phi = [], []
    for pos, box in zip(ds["positions"].values, cells):
        c, p = angles(water_dipole_axes(pos, box, waters))
        cos_t.append(c)
        phi.append(p)
    cos_t, phi = np.array(cos_t), np.array(phi)
    out = xr.Dataset({
        "cos_theta": (("frame", "molecule"), cos_t, {"units": "1"}),
        "theta": (("frame", "molecule"), np.arccos(cos_t), {"units": "radian", "long_name": "polar angle"}),
        "phi": (("frame", "molecule"), phi, {"units": "radian", "long_name": "azimuth"}),
    }, coords={"oxygen_index": ("molecule", waters[:, 0])})
    if "time" in ds.coords:
        out = out.assign_coords(time=("frame", ds["time"].values, {"units": "picosecond"}))
    return out
