"""Partial radial distribution functions, coordination numbers, dipole pair correlations and
pair-direction anisotropy, accumulated frame by frame (Numba kernels), normalized at the end.

For a species pair (a, b) and the pairs i in a, j in b (i != j) within r_max:

    counts(r)   ordered pairs per bin; an a-a pair counts twice (i->j and j->i)
    g_ab(r)     = S_1(r) / (n_frames * shell(r) * N_pair / <V>)
    n_ab(r)     = cumulative counts up to the bin's upper edge / (n_frames * N_a)
    c_L(r)      = S_{(r̂·u_i)(r̂·u_j)} / same normalization     (so c_L/g is the pair mean)
    c_T(r)      = S_{u_i·u_j - (r̂·u_i)(r̂·u_j)} / same normalization
    Y_lm(r)     = S_{Y_lm(r̂)} / S_1   (real spherical harmonics of the lab-frame pair direction)
    Q_l(r)      = sqrt(4 pi / (2l + 1) * sum_m Y_lm(r)^2)   (0 for an isotropic liquid)

S_x is the sum of x over pairs spread onto the grid by the estimator: a histogram (shell =
4/3 pi (r_hi^3 - r_lo^3), as MDAnalysis InterRDF) or a Gaussian kernel of width h (each
pair adds a normalized Gaussian centred at its distance; shell = 4 pi r^2). N_pair is
N_a N_b ('pairs') or N_a (N_b - delta_ab) ('ideal', the small-system factor; g -> 1 for an
ideal gas of any size). Excluded intramolecular pairs are not subtracted from N_pair (as
MDAnalysis exclude_same). u is the molecular dipole axis (H-H midpoint minus O, normalized,
minimum image). Distances are exact minimum images; r_max (+5h for the kernel) must be below
half the smallest perpendicular cell width in every frame, else the frame is refused.

Sanity rules (InputError): r_max finite and at least 0.1 Å (no two nuclei come closer);
bandwidth finite, positive and at most r_max; the accumulators must fit in 80 % of the
machine's memory (checked when the RDF is constructed, before any frame is added). One
frame (or fewer than 2 complete automatic blocks) still gives g(r): the *_err are then
NaN, with a warning.
"""
import numba
import numpy as np
import xarray as xr
from ase.data import chemical_symbols

from . import cell as cellmod
from .blocks import Blocks
from .errors import InputError
from .molecules import water_dipole_axes
from .trajectory import species, warn
from .neighbors import cell_bins, cell_list, check_cutoff, pairs_within
from .resources import check_memory

L_MAX = 4
MIN_R_MAX = 0.1  # Å
BATCH_BYTES = 64 * 2**20  # per-frame grid sums of one _pair_sums call
LM = [(l, m) for l in range(1, L_MAX + 1) for m in range(-l, l + 1)]
KERNEL_REACH = 5.0  # Gaussian truncated at 5 h


@numba.njit(cache=True)
def _histogram(d, values, weight, r_max, out):
    n_bins = out.shape[1]
    scale = n_bins / r_max
    for p in range(d.shape[0]):
        k = int(d[p] * scale)
        if k < n_bins:
            for v in range(values.shape[1]):
                out[v, k] += weight * values[p, v]


@numba.njit(cache=True)
def _kernel(d, values, weight, grid, h, out):
    n = grid.shape[0]
    dr = grid[1] - grid[0]
    norm = weight / (h * np.sqrt(2.0 * np.pi))
    reach = KERNEL_REACH * h
    for p in range(d.shape[0]):
        lo = max(0, int(np.ceil((d[p] - reach - grid[0]) / dr)))
        hi = min(n, int(np.floor((d[p] + reach - grid[0]) / dr)) + 1)
        for k in range(lo, hi):
            x = (grid[k] - d[p]) / h
            g = norm * np.exp(-0.5 * x * x)
            for v in range(values.shape[1]):
                out[v, k] += g * values[p, v]


@numba.njit(cache=True, inline="always")
def _spread(d, weight, v1, v2, n_values, r_max, bandwidth, grid, out, counts):
    """Add one pair at distance d (values 1, v1, v2) to one frame's grid sums and counts."""
    n_bins = counts.shape[0]
    k = int(d * n_bins / r_max)
    if k < n_bins:
        counts[k] += weight
    if bandwidth > 0.0:
        dr = grid[1] - grid[0]
        reach = KERNEL_REACH * bandwidth
        norm = weight / (bandwidth * np.sqrt(2.0 * np.pi))
        lo = max(0, int(np.ceil((d - reach - grid[0]) / dr)))
        hi = min(n_bins, int(np.floor((d + reach - grid[0]) / dr)) + 1)
        for q in range(lo, hi):
            x = (grid[q] - d) / bandwidth
            g = norm * np.exp(-0.5 * x * x)
            out[0, q] += g
            if n_values == 3:
                out[1, q] += g * v1
                out[2, q] += g * v2
    elif k < n_bins:
        out[0, k] += weight
        if n_values == 3:
            out[1, k] += weight * v1
            out[2, k] += weight * v2


@numba.njit(cache=True, inline="always")
def _image(sorted_b, q, sa0, sa1, sa2, h):
    """Minimum-image Cartesian vector (Å) from fractional sa to sorted_b[q], both in [0, 1)."""
    s0 = sorted_b[q, 0] - sa0
    s1 = sorted_b[q, 1] - sa1
    s2 = sorted_b[q, 2] - sa2
    s0 += (s0 < -0.5) - (s0 >= 0.5)
    s1 += (s1 < -0.5) - (s1 >= 0.5)
    s2 += (s2 < -0.5) - (s2 >= 0.5)
    return (s0 * h[0, 0] + s1 * h[1, 0] + s2 * h[2, 0],
            s0 * h[0, 1] + s1 * h[1, 1] + s2 * h[2, 1],
            s0 * h[0, 2] + s1 * h[1, 2] + s2 * h[2, 2])


@numba.njit(cache=True, inline="always", error_model="numpy", fastmath={"nnan", "ninf", "nsz", "contract"})
def _squared_distances(sorted_b, cand, first, m, sa0, sa1, sa2, h, orthorhombic, dd):
    """dd[t] = squared minimum-image distance (Å^2) from fractional sa to candidate t: rows
    first + t of sorted_b when first >= 0 (contiguous, vectorizable), else rows cand[t]."""
    h00, h11, h22 = h[0, 0], h[1, 1], h[2, 2]
    if first >= 0 and orthorhombic:
        for t in range(m):
            s0 = sorted_b[first + t, 0] - sa0
            s1 = sorted_b[first + t, 1] - sa1
            s2 = sorted_b[first + t, 2] - sa2
            x = (s0 + (s0 < -0.5) - (s0 >= 0.5)) * h00
            y = (s1 + (s1 < -0.5) - (s1 >= 0.5)) * h11
            z = (s2 + (s2 < -0.5) - (s2 >= 0.5)) * h22
            dd[t] = x * x + y * y + z * z
    elif orthorhombic:
        for t in range(m):
            q = cand[t]
            s0 = sorted_b[q, 0] - sa0
            s1 = sorted_b[q, 1] - sa1
            s2 = sorted_b[q, 2] - sa2
            x = (s0 + (s0 < -0.5) - (s0 >= 0.5)) * h00
            y = (s1 + (s1 < -0.5) - (s1 >= 0.5)) * h11
            z = (s2 + (s2 < -0.5) - (s2 >= 0.5)) * h22
            dd[t] = x * x + y * y + z * z
    else:
        for t in range(m):
            x, y, z = _image(sorted_b, first + t if first >= 0 else cand[t], sa0, sa1, sa2, h)
            dd[t] = x * x + y * y + z * z


@numba.njit(cache=True, parallel=True, error_model="numpy", fastmath={"nnan", "ninf", "nsz", "contract"})
def _pair_sums(positions, cells, n_cells, idx_a, idx_b, same, r_cut, r_max, bandwidth, grid,
               u, molecule, exclude, n_values, out, counts):
    """Per-frame grid sums out (F, n_values, bins) and counts (F, bins) of pairs a-b within
    r_cut (minimum image; r_cut below half the smallest cell width). Values: 1, and with
    n_values == 3 the dipole products (r̂·u_i)(r̂·u_j) and u_i·u_j - (r̂·u_i)(r̂·u_j).

    n_cells (F, 3): cell-list cells per direction (cells of at least r_cut); with fewer than
    4 along some direction one cell holds everything (checking all pairs is then faster).
    For each atom a: gather candidate b's, compute their minimum-image vectors in a tight
    (vectorizable) loop, then spread the ones within r_cut. Fractional coordinates are
    wrapped into [0, 1), so differences lie in (-1, 1) and one shift gives the minimum image.
    """
    weight = 2.0 if same else 1.0
    r2 = r_cut * r_cut
    n_b = idx_b.shape[0]
    for f in numba.prange(positions.shape[0]):
        h = cells[f]
        u_f, out_f, counts_f = u[f], out[f], counts[f]
        h_inv = np.linalg.inv(h)
        frac_a = positions[f][idx_a] @ h_inv
        frac_a -= np.floor(frac_a)
        frac_b = positions[f][idx_b] @ h_inv
        frac_b -= np.floor(frac_b)
        nb = n_cells[f].copy()
        brute = nb[0] < 4 or nb[1] < 4 or nb[2] < 4
        if brute:
            nb[:] = 1
            order = np.arange(n_b)
        else:
            order, start = cell_list(frac_b, nb)
        sorted_b = frac_b[order]
        cand = np.empty(n_b, np.int64)
        dd = np.empty(n_b)
        orthorhombic = (h[0, 1] == 0.0 and h[0, 2] == 0.0 and h[1, 0] == 0.0 and h[1, 2] == 0.0
                        and h[2, 0] == 0.0 and h[2, 1] == 0.0)
        for ia in range(idx_a.shape[0]):
            i = idx_a[ia]
            sa0, sa1, sa2 = frac_a[ia, 0], frac_a[ia, 1], frac_a[ia, 2]
            b0 = min(int(sa0 * nb[0]), nb[0] - 1)
            b1 = min(int(sa1 * nb[1]), nb[1] - 1)
            b2 = min(int(sa2 * nb[2]), nb[2] - 1)
            if brute:  # candidates are the contiguous range [first, n_b) of frac_b
                first = ia + 1 if same else 0
                m = n_b - first
            else:
                first, m = -1, 0
                for o0 in range(-1, 2):
                    c0 = (b0 + o0) % nb[0]
                    for o1 in range(-1, 2):
                        c1 = (b1 + o1) % nb[1]
                        for o2 in range(-1, 2):
                            c = (c0 * nb[1] + c1) * nb[2] + (b2 + o2) % nb[2]
                            for q in range(start[c], start[c + 1]):
                                if not (same and order[q] <= ia):
                                    cand[m] = q
                                    m += 1
            _squared_distances(sorted_b, cand, first, m, sa0, sa1, sa2, h, orthorhombic, dd)
            for t in range(m):
                if dd[t] >= r2:
                    continue
                q = first + t if brute else cand[t]
                j = idx_b[order[q]]
                if exclude and molecule[i] == molecule[j]:
                    continue
                d = np.sqrt(dd[t])
                v1 = 0.0
                v2 = 0.0
                if n_values == 3:
                    x, y, z = _image(sorted_b, q, sa0, sa1, sa2, h)
                    ri = (x * u_f[i, 0] + y * u_f[i, 1] + z * u_f[i, 2]) / d
                    rj = (x * u_f[j, 0] + y * u_f[j, 1] + z * u_f[j, 2]) / d
                    v1 = ri * rj
                    v2 = u_f[i, 0] * u_f[j, 0] + u_f[i, 1] * u_f[j, 1] + u_f[i, 2] * u_f[j, 2] - v1
                _spread(d, weight, v1, v2, n_values, r_max, bandwidth, grid, out_f, counts_f)


def real_spherical_harmonics(unit):
    """Real orthonormal Y_lm (l = 1..4, m = -l..l in LM order) of unit vectors (n, 3) -> (n, 24)."""
    from scipy.special import sph_harm_y  # only --anisotropy needs it: keep start-up short

    theta = np.arccos(np.clip(unit[:, 2], -1.0, 1.0))
    phi = np.arctan2(unit[:, 1], unit[:, 0])
    out = np.empty((len(unit), len(LM)))
    for c, (l, m) in enumerate(LM):
        y = sph_harm_y(l, abs(m), theta, phi)
        if m > 0:
            out[:, c] = np.sqrt(2) * (-1) ** m * y.real
        elif m < 0:
            out[:, c] = np.sqrt(2) * (-1) ** m * y.imag
        else:
            out[:, c] = y.real
    return out


def species_pairs(numbers, spec=None, source=None):
    """[(symbol_a, symbol_b)] from 'O-O,O-H' or, by default, every pair of the species present
    in order of first appearance (O, H for water: O-O, O-H, H-H). source: the file for messages."""
    present = species(numbers)
    if spec is None:
        return [(a, b) for i, a in enumerate(present) for b in present[i:]]
    out = []
    for item in spec.split(","):
        parts = item.strip().split("-")
        if len(parts) != 2 or not all(parts):
            raise InputError(f"bad pair {item!r}; write pairs like O-O,O-H", source)
        for s in parts:
            if s not in present:
                raise InputError(f"species {s!r} of pair {item!r} is not in the trajectory ({', '.join(present)})",
                                 source)
        out.append(tuple(parts))
    return out


class RDF:
    """Accumulate partial RDFs (and optional dipole correlations and anisotropy) over frames.

    numbers: atomic numbers (n_atoms,); pairs: [(symbol_a, symbol_b)]; r_max Å; bins: grid
    points on [0, r_max); bandwidth: Gaussian width h in Å (None: histogram); molecule:
    molecule index (needed for exclude_intramolecular); waters: (n_water, 3) [O, H, H]
    indices (molecules.find_waters) to add the dipole correlations c_L, c_T; normalization:
    'ideal' or 'pairs'; block_frames: frames per block for errors (None: automatic); source:
    the file for messages. See the module doc for what is refused.
    """

    def __init__(self, numbers, pairs, r_max=6.0, bins=200, bandwidth=None, molecule=None,
                 exclude_intramolecular=False, waters=None, anisotropy=False,
                 normalization="ideal", block_frames=None, source=None):
        numbers = np.asarray(numbers)
        self.source = source
        if not np.isfinite(r_max) or r_max < MIN_R_MAX:
            raise InputError(f"r_max must be at least {MIN_R_MAX} Å, got {r_max:g}", source)
        if int(bins) != bins or bins < 2:
            raise InputError(f"bins must be an integer of at least 2, got {bins}", source)
        if bandwidth is not None and not (np.isfinite(bandwidth) and 0 < bandwidth <= r_max):
            raise InputError(f"bandwidth must be positive and at most r_max ({r_max:g} Å), got {bandwidth:g}", source)
        if normalization not in ("ideal", "pairs"):
            raise InputError(f"unknown normalization {normalization!r}", source)
        if exclude_intramolecular and molecule is None:
            raise InputError("molecule index needed for --exclude-intramolecular", source)
        check_memory(memory_needed(bins, len(pairs), waters is not None, anisotropy),
                     f"{int(bins)} bins x {len(pairs)} pair(s)", source)
        dipole = waters is not None
        self.r_max, self.bins, self.bandwidth = float(r_max), int(bins), bandwidth
        self.edges = np.linspace(0.0, self.r_max, self.bins + 1)
        self.r = 0.5 * (self.edges[1:] + self.edges[:-1])
        self.cutoff = self.r_max + (KERNEL_REACH * bandwidth if bandwidth else 0.0)
        self.molecule = None if molecule is None else np.asarray(molecule, dtype=np.int64)
        self.exclude = exclude_intramolecular
        self.dipole, self.anisotropy, self.normalization = dipole, anisotropy, normalization
        self.n_atoms = len(numbers)
        self.pairs = []
        for a, b in pairs:
            idx_a = np.flatnonzero(numbers == chemical_symbols.index(a))
            idx_b = np.flatnonzero(numbers == chemical_symbols.index(b))
            if len(idx_a) == 0 or len(idx_b) == 0 or (a == b and len(idx_a) < 2):
                raise InputError(f"empty selection for pair {a}-{b}", source)
            self.pairs.append((f"{a}{b}", a, b, idx_a, idx_b))
        self.waters = waters
        if dipole:
            if len(waters) == 0:
                raise InputError("--dipole: no water molecules (an O with its two nearest H) found", source)
            in_water = np.zeros(self.n_atoms, bool)
            in_water[self.waters.ravel()] = True
            for name, a, b, idx_a, idx_b in self.pairs:
                if not (in_water[idx_a].all() and in_water[idx_b].all()):
                    raise InputError(f"--dipole needs every {a} and {b} atom in a water molecule "
                                     f"(O + 2 H); pair {a}-{b} has atoms outside waters (try --pairs O-O)", source)
        self.n_values = 1 + (2 if dipole else 0) + (len(LM) if anisotropy else 0)
        self.blocks = Blocks(block_frames)

    def add(self, positions, cell):
        """Add one frame: positions (n_atoms, 3) Å, cell (3, 3) Å."""
        if cell is None:
            raise InputError("the RDF needs a periodic cell; this trajectory has none", self.source)
        self.add_frames(np.asarray(positions)[None], np.asarray(cell)[None])

    def add_frames(self, positions, cells):
        """Add frames: positions (F, n_atoms, 3) Å, cells (F, 3, 3) Å (in batches that bound
        the per-frame grid sums to BATCH_BYTES)."""
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        cells = np.ascontiguousarray(cells, dtype=np.float64)
        check_cutoff(cells, self.cutoff, self.source)
        batch = max(1, BATCH_BYTES // (8 * self.bins * (self.n_values + 4)))
        for lo in range(0, len(positions), batch):
            self._add_batch(positions[lo:lo + batch], cells[lo:lo + batch])

    def _add_batch(self, positions, cells):
        n_frames = len(positions)
        n_cells = cell_bins(cells, self.cutoff)
        u = np.zeros((n_frames, self.n_atoms if self.dipole else 1, 3))  # unused without dipole
        if self.dipole:
            for f in range(n_frames):
                axes = water_dipole_axes(positions[f], cells[f], self.waters)
                for k in range(3):
                    u[f, self.waters[:, k]] = axes
        n_core = 3 if self.dipole else 1
        molecule = self.molecule if self.molecule is not None else np.zeros(self.n_atoms, np.int64)
        sums = {"volume": cellmod.volume(cells), "frames": np.ones(n_frames)}
        for name, a, b, idx_a, idx_b in self.pairs:
            grid_sums = np.zeros((n_frames, self.n_values, self.bins))
            counts = np.zeros((n_frames, self.bins))
            core = np.zeros((n_frames, n_core, self.bins))
            _pair_sums(positions, cells, n_cells, idx_a, idx_b, a == b, self.cutoff, self.r_max,
                       float(self.bandwidth or 0.0), self.r, u, molecule, self.exclude, n_core, core, counts)
            grid_sums[:, :n_core] = core
            if self.anisotropy:
                for f in range(n_frames):
                    grid_sums[f, n_core:] = self._harmonic_sums(positions[f], cells[f], a, idx_a, idx_b)
            sums[name] = grid_sums
            sums[name + ":counts"] = counts
        self.blocks.add_frames(sums)

    def _harmonic_sums(self, positions, cell, a, idx_a, idx_b):
        """Sums of Y_lm(r̂) over the pairs of one frame, spread like g (len(LM), bins)."""
        same = idx_a is idx_b or np.array_equal(idx_a, idx_b)
        i, j, vec = pairs_within(positions, cell, self.cutoff, idx_a, None if same else idx_b)
        if self.exclude:
            keep = self.molecule[i] != self.molecule[j]
            vec = vec[keep]
        d = np.sqrt(np.einsum("ij,ij->i", vec, vec))
        values = real_spherical_harmonics(vec / d[:, None])
        out = np.zeros((len(LM), self.bins))
        weight = 2.0 if same else 1.0
        if self.bandwidth:
            _kernel(d, values, weight, self.r, float(self.bandwidth), out)
        else:
            _histogram(d, values, weight, self.r_max, out)
        return out

    def add_chunk(self, ds):
        """Add every frame of an eqt trajectory chunk."""
        if "cell" not in ds:
            raise InputError("the RDF needs a periodic cell; this trajectory has none", self.source)
        self.add_frames(ds["positions"].values, ds["cell"].values)

    def _normalize(self, sums):
        frames = sums["frames"]
        mean_volume = sums["volume"] / frames
        if self.bandwidth:
            shell = 4.0 * np.pi * self.r**2
        else:
            shell = 4.0 / 3.0 * np.pi * np.diff(self.edges**3)
        out = {}
        for name, a, b, idx_a, idx_b in self.pairs:
            n_a, n_b = len(idx_a), len(idx_b)
            n_pair = n_a * (n_b - 1) if (a == b and self.normalization == "ideal") else n_a * n_b
            norm = frames * shell * n_pair / mean_volume
            s = sums[name]
            out[f"g_{name}"] = s[0] / norm
            out[f"n_{name}"] = np.cumsum(sums[name + ":counts"]) / (frames * n_a)
            col = 1
            if self.dipole:
                out[f"cL_{name}"] = s[1] / norm
                out[f"cT_{name}"] = s[2] / norm
                col = 3
            if self.anisotropy:
                with np.errstate(invalid="ignore", divide="ignore"):
                    ylm = s[col:] / s[0]
                out[f"ylm_{name}"] = ylm
                q = []
                for l in range(1, L_MAX + 1):
                    rows = [c for c, (ll, _) in enumerate(LM) if ll == l]
                    q.append(np.sqrt(4 * np.pi / (2 * l + 1) * np.sum(ylm[rows] ** 2, axis=0)))
                out[f"anisotropy_{name}"] = np.array(q)
        out["mean_volume"] = np.asarray(mean_volume)
        return out

    def result(self):
        """The result as an xarray Dataset (values, *_err, units, parameters); *_err are NaN
        (with a warning) when fewer than 2 complete blocks were accumulated."""
        value, err = self.blocks.estimate(self._normalize, self.source)
        if len(self.blocks.blocks) < 2:
            warn(f"{self.source or 'RDF'}: {self.blocks.n_frames} frame(s) give no block errors (*_err are NaN); "
                 "errors need at least 2 frames")
        coords = {"r": ("r", self.r, {"units": "angstrom", "long_name": "pair distance (grid point)"}),
                  "r_upper": ("r", self.edges[1:], {"units": "angstrom", "long_name": "upper bin edge"}),
                  "r_edge": ("edge", self.edges, {"units": "angstrom", "long_name": "bin edges"})}
        if self.anisotropy:
            coords["l"] = ("l", np.arange(1, L_MAX + 1))
            coords["lm"] = ("lm", [f"{l},{m}" for l, m in LM])
        ds = xr.Dataset(coords=coords)
        for key, v in value.items():
            dims = {0: (), 1: ("r",)}.get(np.ndim(v), ("lm" if key.startswith("ylm") else "l", "r"))
            meta = _META[key.split("_")[0]]
            ds[key] = (dims, v, {"units": meta[0], "long_name": meta[1].format(pair=key.split("_", 1)[-1])})
            if key != "mean_volume":
                ds[key + "_err"] = (dims, err[key], {"units": meta[0], "long_name": "standard error (blocks) of " + key})
        for name, a, b, idx_a, idx_b in self.pairs:
            ds[f"density_{b}"] = ((), len(idx_b) / ds["mean_volume"].item(),
                                  {"units": "angstrom^-3", "long_name": f"number density of {b} used"})
        ds.attrs.update(
            estimator=f"gaussian kernel, bandwidth {self.bandwidth} angstrom" if self.bandwidth else "histogram",
            normalization=("N_a*(N_b - delta_ab)/<V> (ideal-gas pair count)" if self.normalization == "ideal"
                           else "N_a*N_b/<V>"),
            exclude_intramolecular=int(self.exclude), r_max=self.r_max, bins=self.bins,
            n_frames=int(self.blocks.n_frames), block_frames=int(self.blocks.block_frames),
            n_blocks=len(self.blocks.blocks),
            error_growth_2x=self.blocks.error_growth(self._normalize, f"g_{self.pairs[0][0]}"))
        return ds


def memory_needed(bins, n_pairs, dipole=False, anisotropy=False, max_blocks=64):
    """Bytes an RDF holds: per pair, (values + counts) x bins for the total, the open block,
    up to max_blocks blocks and their normalized copies, plus one batch of frame sums."""
    n_values = 1 + (2 if dipole else 0) + (len(LM) if anisotropy else 0)
    per_sum = n_pairs * (n_values + 1) * bins
    return 8 * per_sum * (2 * max_blocks + 4) + max(BATCH_BYTES, 8 * bins * (n_values + 4))


_META = {
    "g": ("1", "radial distribution function g_{pair}(r)"),
    "n": ("1", "coordination number n_{pair} within r_upper"),
    "cL": ("1", "longitudinal dipole pair correlation c_L {pair}"),
    "cT": ("1", "transverse dipole pair correlation c_T {pair}"),
    "ylm": ("1", "pair-direction real spherical harmonic moments <Y_lm> {pair}"),
    "anisotropy": ("1", "pair-direction anisotropy Q_l {pair}"),
    "mean": ("angstrom^3", "mean cell volume"),
}
