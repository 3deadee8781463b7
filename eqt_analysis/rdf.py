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
"""
import numba
import numpy as np
import xarray as xr
from ase.data import chemical_symbols
from scipy.special import sph_harm_y

from . import cell as cellmod
from .blocks import Blocks
from .errors import InputError
from .molecules import water_dipole_axes, water_molecules
from .neighbors import check_cutoff, pairs_within

L_MAX = 4
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


def real_spherical_harmonics(unit):
    """Real orthonormal Y_lm (l = 1..4, m = -l..l in LM order) of unit vectors (n, 3) -> (n, 24)."""
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


def species_pairs(numbers, spec=None):
    """[(symbol_a, symbol_b)] from 'O-O,O-H' or, by default, every pair of the species present
    in order of first appearance (O, H for water: O-O, O-H, H-H)."""
    present = [chemical_symbols[z] for z in dict.fromkeys(np.asarray(numbers).tolist())]
    if spec is None:
        return [(a, b) for i, a in enumerate(present) for b in present[i:]]
    out = []
    for item in spec.split(","):
        parts = item.strip().split("-")
        if len(parts) != 2 or not all(parts):
            raise InputError(f"bad pair {item!r}; write pairs like O-O,O-H")
        for s in parts:
            if s not in present:
                raise InputError(f"species {s!r} of pair {item!r} is not in the trajectory ({', '.join(present)})")
        out.append(tuple(parts))
    return out


class RDF:
    """Accumulate partial RDFs (and optional dipole correlations and anisotropy) over frames.

    numbers: atomic numbers (n_atoms,); pairs: [(symbol_a, symbol_b)]; r_max Å; bins: grid
    points on [0, r_max); bandwidth: Gaussian width h in Å (None: histogram); molecule:
    molecule index (needed for exclude_intramolecular and dipole); normalization: 'ideal' or
    'pairs'; block_frames: frames per block for errors (None: automatic).
    """

    def __init__(self, numbers, pairs, r_max=6.0, bins=200, bandwidth=None, molecule=None,
                 exclude_intramolecular=False, dipole=False, anisotropy=False,
                 normalization="ideal", block_frames=None):
        numbers = np.asarray(numbers)
        if r_max <= 0 or bins < 2:
            raise InputError("r_max must be positive and bins at least 2")
        if bandwidth is not None and bandwidth <= 0:
            raise InputError("bandwidth must be positive")
        if normalization not in ("ideal", "pairs"):
            raise InputError(f"unknown normalization {normalization!r}")
        if (exclude_intramolecular or dipole) and molecule is None:
            raise InputError("molecule index needed for --exclude-intramolecular and --dipole")
        self.r_max, self.bins, self.bandwidth = float(r_max), int(bins), bandwidth
        self.edges = np.linspace(0.0, self.r_max, self.bins + 1)
        self.r = 0.5 * (self.edges[1:] + self.edges[:-1])
        self.cutoff = self.r_max + (KERNEL_REACH * bandwidth if bandwidth else 0.0)
        self.molecule = None if molecule is None else np.asarray(molecule)
        self.exclude = exclude_intramolecular
        self.dipole, self.anisotropy, self.normalization = dipole, anisotropy, normalization
        self.n_atoms = len(numbers)
        self.pairs = []
        for a, b in pairs:
            idx_a = np.flatnonzero(numbers == chemical_symbols.index(a))
            idx_b = np.flatnonzero(numbers == chemical_symbols.index(b))
            if len(idx_a) == 0 or len(idx_b) == 0 or (a == b and len(idx_a) < 2):
                raise InputError(f"empty selection for pair {a}-{b}")
            self.pairs.append((f"{a}{b}", a, b, idx_a, idx_b))
        self.waters = None
        if dipole:
            self.waters = water_molecules(numbers, self.molecule)
            in_water = np.zeros(self.n_atoms, bool)
            in_water[self.waters.ravel()] = True
            for name, a, b, idx_a, idx_b in self.pairs:
                if not (in_water[idx_a].all() and in_water[idx_b].all()):
                    raise InputError(f"--dipole needs every {a} and {b} atom in a water molecule "
                                     f"(O + 2 H); pair {a}-{b} has atoms outside waters (try --pairs O-O)")
            if len(self.waters) == 0:
                raise InputError("--dipole: no water molecules (O + 2 H bonded) found")
        self.n_values = 1 + (2 if dipole else 0) + (len(LM) if anisotropy else 0)
        self.blocks = Blocks(block_frames)

    def add(self, positions, cell):
        """Add one frame: positions (n_atoms, 3) Å, cell (3, 3) Å."""
        if cell is None:
            raise InputError("the RDF needs a periodic cell; this trajectory has none")
        check_cutoff(cell[None], self.cutoff)
        sums = {"volume": np.array(cellmod.volume(cell)), "frames": np.array(1.0)}
        u_atom = None
        if self.dipole:
            u_atom = np.full((self.n_atoms, 3), np.nan)
            u = water_dipole_axes(positions, cell, self.waters)
            for k in range(3):
                u_atom[self.waters[:, k]] = u
        for name, a, b, idx_a, idx_b in self.pairs:
            same = a == b
            i, j, vec = pairs_within(positions, cell, self.cutoff, idx_a, None if same else idx_b)
            if self.exclude:
                keep = self.molecule[i] != self.molecule[j]
                i, j, vec = i[keep], j[keep], vec[keep]
            d = np.sqrt(np.einsum("ij,ij->i", vec, vec))
            values = np.empty((len(d), self.n_values))
            values[:, 0] = 1.0
            col = 1
            if self.dipole or self.anisotropy:
                unit = vec / d[:, None]
            if self.dipole:
                ri = np.einsum("ij,ij->i", unit, u_atom[i])
                rj = np.einsum("ij,ij->i", unit, u_atom[j])
                values[:, 1] = ri * rj
                values[:, 2] = np.einsum("ij,ij->i", u_atom[i], u_atom[j]) - ri * rj
                col = 3
            if self.anisotropy:
                values[:, col:] = real_spherical_harmonics(unit)
            weight = 2.0 if same else 1.0
            grid_sums = np.zeros((self.n_values, self.bins))
            if self.bandwidth:
                _kernel(d, values, weight, self.r, float(self.bandwidth), grid_sums)
            else:
                _histogram(d, values, weight, self.r_max, grid_sums)
            counts = np.zeros((1, self.bins))
            _histogram(d, np.ones((len(d), 1)), weight, self.r_max, counts)
            sums[name] = grid_sums
            sums[name + ":counts"] = counts[0]
        self.blocks.add(sums)

    def add_chunk(self, ds):
        """Add every frame of an eqt trajectory chunk."""
        positions = ds["positions"].values
        cells = ds["cell"].values if "cell" in ds else [None] * len(positions)
        for pos, box in zip(positions, cells):
            self.add(pos, box)

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
        """The result as an xarray Dataset (values, *_err, units, parameters)."""
        value, err = self.blocks.estimate(self._normalize)
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


_META = {
    "g": ("1", "radial distribution function g_{pair}(r)"),
    "n": ("1", "coordination number n_{pair} within r_upper"),
    "cL": ("1", "longitudinal dipole pair correlation c_L {pair}"),
    "cT": ("1", "transverse dipole pair correlation c_T {pair}"),
    "ylm": ("1", "pair-direction real spherical harmonic moments <Y_lm> {pair}"),
    "anisotropy": ("1", "pair-direction anisotropy Q_l {pair}"),
    "mean": ("angstrom^3", "mean cell volume"),
}
