"""Partial radial distribution functions, coordination numbers, dipole pair correlations and
pair-direction anisotropy, accumulated frame by frame (Numba kernels), normalized at the end.

For a species pair a-b and the ordered pairs (i in a, j in b, i != j) within r_max:

    counts(r)   ordered pairs per bin; an a-a pair counts twice (i->j and j->i)
    g(r)        = S_1(r) / (n_frames * shell(r) * N_pair / <V>)
    n(r)        = cumulative counts up to the bin's upper edge / (n_frames * N_a)
    c_L(r)      = S_{(r̂·u_i)(r̂·u_j)} / same normalization     (so c_L/g is the pair mean)
    c_T(r)      = S_{u_i·u_j - (r̂·u_i)(r̂·u_j)} / same normalization
    ylm(r)      = S_{Y_lm(r̂)} / S_1   (real spherical harmonics of the lab-frame direction
                  r̂ from i to j; an a-a pair counts both ways, so odd l vanish for it)
    Q_l(r)      = sqrt(4 pi / (2l + 1) * sum_m ylm(r)^2)   (0 for an isotropic liquid)
    g_inter(r)  = the part of g from pairs in different molecules (without exclusion, when
                  some pairs lie within one molecule)

S_x is the sum of x over pairs spread onto the grid by the estimator: a histogram (shell =
4/3 pi (r_hi^3 - r_lo^3), as MDAnalysis InterRDF) or a Gaussian kernel of width h (each
pair adds a normalized Gaussian centred at its distance; shell = 4 pi r^2). N_pair
('ideal', default) counts the ordered pairs that can be counted: N_a N_b minus the pairs
i = j and, with exclude_intramolecular, minus the pairs within one molecule — MDAnalysis
InterRDF's exclusion_block convention (g -> 1 for an ideal gas of any size); 'pairs' is
N_a N_b (MDAnalysis without exclusion_block, or with exclude_same). u is the molecular
dipole axis (H-H midpoint minus O, normalized, minimum image). Distances are exact minimum
images; r_max (+5h for the kernel) must be below half the smallest perpendicular cell width
in every frame, else the frame is refused — unless all_images: then every periodic image
within r_max counts (as ASE's neighbour list counts pairs), an atom's own images included,
in the frames narrower than 2 r_max (the others have no second image within r_max). With
the 'ideal' normalization an a-a g(r) then tends to N_a / (N_a - 1) for an ideal gas at
r beyond half the cell (an atom's own images are pairs); 'pairs' gives 1.

Sanity rules (InputError): r_max finite and at least 0.1 Å (no two nuclei come closer);
bandwidth finite, positive and at most r_max; the accumulators must fit in 80 % of the
machine's memory (checked when the RDF is constructed, before any frame is added). One
frame (or fewer than 2 complete automatic blocks) still gives g(r): the *_err are then
NaN, with a warning.
"""
import numba
import numpy as np
import xarray as xr

from . import cell as cellmod
from . import results
from .blocks import Blocks
from .errors import InputError
from .harmonics import L_MAX, LM, real_spherical_harmonics
from .molecules import water_dipole_axes
from .neighbors import cell_bins, cell_list, check_cutoff, pairs_within
from .resources import check_memory
from .spreading import KERNEL_REACH, add_gaussian, spread
from .trajectory import warn

MIN_R_MAX = 0.1  # Å
BATCH_BYTES = 64 * 2**20  # per-frame grid sums of one _pair_sums call
SQRT_2PI = np.sqrt(2.0 * np.pi)
PARITY = np.array([(-1.0) ** l for l, _ in LM])  # of Y_lm under r̂ -> -r̂


@numba.njit(cache=True)
def _histogram(d, values, r_max, out):
    """out (n_values, bins) += values (n, n_values) binned by distance d (n,) Å on [0, r_max)."""
    n_bins = out.shape[1]
    scale = n_bins / r_max
    for p in range(d.shape[0]):
        k = int(d[p] * scale)
        if k < n_bins:
            for v in range(values.shape[1]):
                out[v, k] += values[p, v]


@numba.njit(cache=True, inline="always", error_model="numpy", fastmath={"nnan", "ninf", "nsz", "contract"})
def _image(sorted_b, q, sa0, sa1, sa2, h):
    """Minimum-image Cartesian vector (Å) from fractional sa to column q of sorted_b (3, n), both
    in [0, 1) (differences in (-1, 1): subtracting the nearest integer gives the minimum image)."""
    s0 = sorted_b[0, q] - sa0
    s1 = sorted_b[1, q] - sa1
    s2 = sorted_b[2, q] - sa2
    s0 -= np.rint(s0)
    s1 -= np.rint(s1)
    s2 -= np.rint(s2)
    return (s0 * h[0, 0] + s1 * h[1, 0] + s2 * h[2, 0],
            s0 * h[0, 1] + s1 * h[1, 1] + s2 * h[2, 1],
            s0 * h[0, 2] + s1 * h[1, 2] + s2 * h[2, 2])


@numba.njit(cache=True, inline="always", error_model="numpy", fastmath={"nnan", "ninf", "nsz", "contract"})
def _collect(sorted_b, lo, hi, sa0, sa1, sa2, h, orthorhombic, r2, dd, hit_q, hit_d, n_hits):
    """Append to hit_q, hit_d (from index n_hits) the columns q in [lo, hi) of sorted_b (3, n)
    within squared distance r2 (Å^2) of fractional sa, and their squared minimum-image
    distances; returns the new n_hits. The distances are computed in one vectorizable loop
    into dd, then compacted without branches."""
    m = hi - lo
    if m <= 0:
        return n_hits
    if orthorhombic:
        h00, h11, h22 = h[0, 0], h[1, 1], h[2, 2]
        for t in range(m):
            s0 = sorted_b[0, lo + t] - sa0
            s1 = sorted_b[1, lo + t] - sa1
            s2 = sorted_b[2, lo + t] - sa2
            x = (s0 - np.rint(s0)) * h00
            y = (s1 - np.rint(s1)) * h11
            z = (s2 - np.rint(s2)) * h22
            dd[t] = x * x + y * y + z * z
    else:
        for t in range(m):
            x, y, z = _image(sorted_b, lo + t, sa0, sa1, sa2, h)
            dd[t] = x * x + y * y + z * z
    for t in range(m):
        hit_q[n_hits] = lo + t
        hit_d[n_hits] = dd[t]
        n_hits += dd[t] < r2
    return n_hits


@numba.njit(cache=True)
def _share_molecules(idx_a, idx_b, same, molecule):
    """Whether some pair (i in idx_a, j in idx_b, i != j) lies within one molecule."""
    seen = np.zeros(molecule.max() + 1, np.int64)
    for i in idx_a:
        seen[molecule[i]] += 1
    for j in idx_b:
        if seen[molecule[j]] > (1 if same else 0):
            return True
    return False


@numba.njit(cache=True, parallel=True, error_model="numpy", fastmath={"nnan", "ninf", "nsz", "contract"})
def _pair_sums(positions, cells, n_cells, idx_a, idx_b, same, r_cut, r_max, bandwidth, grid,
               u, molecule, exclude, out, counts, intra):
    """Per-frame grid sums out (F, n_values, bins), counts (F, bins) and intramolecular sums
    intra (F, 1, bins) of the pairs a-b within r_cut (Å, minimum image; r_cut below half the
    smallest cell width). Values: 1, and with n_values == 3 the dipole products (r̂·u_i)(r̂·u_j)
    and u_i·u_j - (r̂·u_i)(r̂·u_j). exclude: pairs within one molecule are skipped; otherwise
    they also go to intra. bandwidth 0: histogram on [0, r_max), else Gaussian kernel on grid.

    n_cells (F, 3): cell-list cells per direction (cells of at least r_cut); with fewer than
    4 along some direction one cell holds everything (checking all pairs is then faster).
    The b atoms are sorted by cell, so the 3 neighbouring cells along the last direction are
    one or two contiguous ranges; for each atom a the distances to those ranges are computed
    in tight vectorizable loops, and only the pairs within r_cut are spread. For a-a pairs
    the atoms are visited in cell order and each unordered pair once (sorted index q > p).
    Fractional coordinates are wrapped into [0, 1), so differences lie in (-1, 1) and the
    nearest integer gives the minimum image.
    """
    weight = 2.0 if same else 1.0
    n_values = out.shape[1]
    norm = weight / (bandwidth * SQRT_2PI) if bandwidth > 0.0 else weight
    r2 = r_cut * r_cut
    n_a, n_b = idx_a.shape[0], idx_b.shape[0]
    n_bins = counts.shape[1]
    histogram_only = n_values == 1 and bandwidth == 0.0
    shared = _share_molecules(idx_a, idx_b, same, molecule)
    for f in numba.prange(positions.shape[0]):
        h = cells[f]
        u_f, out_f, counts_f, intra_f = u[f], out[f], counts[f], intra[f]
        amplitudes = np.empty(n_values)
        h_inv = np.linalg.inv(h)
        frac_a = positions[f][idx_a] @ h_inv
        frac_a -= np.floor(frac_a)
        frac_b = positions[f][idx_b] @ h_inv
        frac_b -= np.floor(frac_b)
        nb = n_cells[f].copy()
        if nb[0] < 4 or nb[1] < 4 or nb[2] < 4:
            nb[:] = 1
        order, start = cell_list(frac_b, nb)
        sorted_b = np.ascontiguousarray(frac_b[order].T)
        molecule_b = molecule[idx_b[order]]
        dd = np.empty(n_b)
        hit_q = np.empty(n_b, np.int64)
        hit_d = np.empty(n_b)
        orthorhombic = (h[0, 1] == 0.0 and h[0, 2] == 0.0 and h[1, 0] == 0.0 and h[1, 2] == 0.0
                        and h[2, 0] == 0.0 and h[2, 1] == 0.0)
        for p in range(n_a):
            ia = order[p] if same else p  # a-a: in cell order, so that atom ia is column p of sorted_b
            i = idx_a[ia]
            sa0, sa1, sa2 = frac_a[ia, 0], frac_a[ia, 1], frac_a[ia, 2]
            first = p + 1 if same else 0  # a-a: only the columns after p
            b0 = min(int(sa0 * nb[0]), nb[0] - 1)
            b1 = min(int(sa1 * nb[1]), nb[1] - 1)
            b2 = min(int(sa2 * nb[2]), nb[2] - 1)
            n_hits = 0
            for row_offset in range(1 if nb[0] == 1 else 9):  # the rows (o0, o1) of neighbouring cells
                if nb[0] == 1:  # one cell: every atom
                    ranges = ((0, n_b), (0, 0))
                else:
                    c0 = (b0 + row_offset // 3 - 1) % nb[0]
                    row = (c0 * nb[1] + (b1 + row_offset % 3 - 1) % nb[1]) * nb[2]
                    if b2 == 0:  # cells nb2 - 1, 0, 1 of this row
                        ranges = ((start[row + nb[2] - 1], start[row + nb[2]]), (start[row], start[row + 2]))
                    elif b2 == nb[2] - 1:  # cells nb2 - 2, nb2 - 1, 0
                        ranges = ((start[row + b2 - 1], start[row + nb[2]]), (start[row], start[row + 1]))
                    else:
                        ranges = ((start[row + b2 - 1], start[row + b2 + 2]), (0, 0))
                for lo, hi in ranges:
                    n_hits = _collect(sorted_b, max(lo, first), hi, sa0, sa1, sa2, h, orthorhombic, r2, dd, hit_q,
                                      hit_d, n_hits)
            if histogram_only:  # the common case, kept lean: bins in a vectorizable loop, one sum
                for s in range(n_hits):
                    hit_d[s] = np.sqrt(hit_d[s]) * n_bins / r_max  # the bins of _add_pair, to the last bit
                for s in range(n_hits):
                    k = int(hit_d[s])
                    if k < n_bins:
                        if shared and molecule[i] == molecule_b[hit_q[s]]:
                            if exclude:
                                continue
                            intra_f[0, k] += norm
                        counts_f[k] += weight
                continue
            for s in range(n_hits):
                q = hit_q[s]
                within = molecule[i] == molecule_b[q]
                if exclude and within:
                    continue
                j = idx_b[order[q]]
                x, y, z = _image(sorted_b, q, sa0, sa1, sa2, h) if n_values == 3 else (0.0, 0.0, 0.0)
                _add_pair(np.sqrt(hit_d[s]), x, y, z, u_f[i], u_f[j], within, weight, norm, grid, bandwidth,
                          r_max, amplitudes, out_f, counts_f, intra_f)
        if histogram_only:
            out_f[0] += counts_f  # norm == weight: the same sums


@numba.njit(cache=True, inline="always", error_model="numpy")
def _add_pair(d, x, y, z, u_i, u_j, within, weight, norm, grid, bandwidth, r_max, amplitudes, out_f, counts_f,
              intra_f):
    """Add one pair at distance d (Å), vector (x, y, z) from i to j, to the frame's sums: counts, the
    values (1, and with 3 values the dipole products of axes u_i, u_j), and intra when `within`."""
    n_values, n_bins = out_f.shape[0], counts_f.shape[0]
    amplitudes[0] = norm
    if n_values == 3:
        ri = (x * u_i[0] + y * u_i[1] + z * u_i[2]) / d
        rj = (x * u_j[0] + y * u_j[1] + z * u_j[2]) / d
        v1 = ri * rj
        amplitudes[1] = norm * v1
        amplitudes[2] = norm * (u_i[0] * u_j[0] + u_i[1] * u_j[1] + u_i[2] * u_j[2] - v1)
    k = int(d * n_bins / r_max)
    if k < n_bins:
        counts_f[k] += weight
    if bandwidth > 0.0:
        add_gaussian(out_f, d, bandwidth, grid, amplitudes)
        if within:
            add_gaussian(intra_f, d, bandwidth, grid, amplitudes)
    elif k < n_bins:
        for v in range(n_values):
            out_f[v, k] += amplitudes[v]
        if within:
            intra_f[0, k] += norm


@numba.njit(cache=True, parallel=True, error_model="numpy", fastmath={"nnan", "ninf", "nsz", "contract"})
def _pair_sums_all_images(positions, cells, n_images, idx_a, idx_b, same, r_cut, r_max, bandwidth, grid,
                          u, molecule, exclude, out, counts, intra):
    """_pair_sums counting every periodic image within r_cut (Å), for cells narrower than 2 r_cut: the
    minimum-image difference of each pair plus the lattice shifts k with |k_d| <= n_images[f, d]. An
    atom's own images (k != 0) are pairs too; a pair is intramolecular only at k = 0 (same molecule). For
    a-a pairs each unordered pair is visited once, with weight 2 (an atom with its own images: the
    shifts of one half-space)."""
    weight = 2.0 if same else 1.0
    n_values = out.shape[1]
    norm = weight / (bandwidth * SQRT_2PI) if bandwidth > 0.0 else weight
    r2 = r_cut * r_cut
    for f in numba.prange(positions.shape[0]):
        h = cells[f]
        u_f, out_f, counts_f, intra_f = u[f], out[f], counts[f], intra[f]
        amplitudes = np.empty(n_values)
        h_inv = np.linalg.inv(h)
        frac_a = positions[f][idx_a] @ h_inv
        frac_b = positions[f][idx_b] @ h_inv
        n0, n1, n2 = n_images[f, 0], n_images[f, 1], n_images[f, 2]
        for ia in range(idx_a.shape[0]):
            i = idx_a[ia]
            for jb in range(ia if same else 0, idx_b.shape[0]):
                j = idx_b[jb]
                self_pair = same and jb == ia
                s0 = frac_b[jb, 0] - frac_a[ia, 0]
                s1 = frac_b[jb, 1] - frac_a[ia, 1]
                s2 = frac_b[jb, 2] - frac_a[ia, 2]
                s0 -= np.floor(s0 + 0.5)
                s1 -= np.floor(s1 + 0.5)
                s2 -= np.floor(s2 + 0.5)
                for k0 in range(-n0, n0 + 1):
                    for k1 in range(-n1, n1 + 1):
                        for k2 in range(-n2, n2 + 1):
                            if self_pair and (k0 < 0 or (k0 == 0 and (k1 < 0 or (k1 == 0 and k2 <= 0)))):
                                continue  # itself, or the mirror image of a shift already counted
                            t0, t1, t2 = s0 + k0, s1 + k1, s2 + k2
                            x = t0 * h[0, 0] + t1 * h[1, 0] + t2 * h[2, 0]
                            y = t0 * h[0, 1] + t1 * h[1, 1] + t2 * h[2, 1]
                            z = t0 * h[0, 2] + t1 * h[1, 2] + t2 * h[2, 2]
                            dd = x * x + y * y + z * z
                            if dd >= r2:
                                continue
                            within = k0 == 0 and k1 == 0 and k2 == 0 and molecule[i] == molecule[j]
                            if exclude and within:
                                continue
                            _add_pair(np.sqrt(dd), x, y, z, u_f[i], u_f[j], within, weight, norm, grid,
                                      bandwidth, r_max, amplitudes, out_f, counts_f, intra_f)


def species_pairs(system, spec=None):
    """[(symbol_a, symbol_b)] from 'O-O,O-H' or, by default, every pair of the species present
    in order of first appearance (O, H for water: O-O, O-H, H-H)."""
    present = system.species
    if spec is None:
        return [(a, b) for i, a in enumerate(present) for b in present[i:]]
    out = []
    for item in spec.split(","):
        parts = item.strip().split("-")
        if len(parts) != 2 or not all(parts):
            raise InputError(f"bad pair {item!r}; write pairs like O-O,O-H", system.source)
        for s in parts:
            if s not in present:
                raise InputError(f"species {s!r} of pair {item!r} is not in the trajectory ({', '.join(present)})",
                                 system.source)
        out.append(tuple(parts))
    return out


class RDF:
    """Accumulate partial RDFs (and optional dipole correlations and anisotropy) over frames.

    system: the System (species, first-frame molecules and waters, source for messages);
    pairs: 'O-O,O-H' (None: every pair of species); r_max Å; bins: grid points on [0, r_max);
    bandwidth: Gaussian width h in Å (None: histogram); exclude_intramolecular: drop pairs
    within one molecule (system.molecule); dipole: add the water dipole correlations c_L,
    c_T; anisotropy: add the Y_lm moments and Q_l; normalization: 'ideal' or 'pairs';
    block_frames: frames per block for errors (None: automatic). Feed frames with
    add_chunk / add_frames / add, then ask for result(). See the module doc for what is refused.
    """

    def __init__(self, system, pairs=None, r_max=6.0, bins=200, bandwidth=None, exclude_intramolecular=False,
                 dipole=False, anisotropy=False, normalization="ideal", block_frames=None, all_images=False):
        source = self.source = system.source
        if all_images and anisotropy:
            raise InputError("the anisotropy moments count minimum images only: drop --anisotropy or --all-images",
                             source)
        self.all_images = bool(all_images)
        if not np.isfinite(r_max) or r_max < MIN_R_MAX:
            raise InputError(f"r_max must be at least {MIN_R_MAX} Å, got {r_max:g}", source)
        if int(bins) != bins or bins < 2:
            raise InputError(f"bins must be an integer of at least 2, got {bins}", source)
        if bandwidth is not None and not (np.isfinite(bandwidth) and 0 < bandwidth <= r_max):
            raise InputError(f"bandwidth must be positive and at most r_max ({r_max:g} Å), got {bandwidth:g}", source)
        if normalization not in ("ideal", "pairs"):
            raise InputError(f"unknown normalization {normalization!r}", source)
        pairs = species_pairs(system, pairs)
        check_memory(memory_needed(bins, len(pairs), dipole, anisotropy),
                     f"{int(bins)} bins x {len(pairs)} pair(s)", source)
        self.r_max, self.bins, self.bandwidth = float(r_max), int(bins), bandwidth
        self.edges = np.linspace(0.0, self.r_max, self.bins + 1)
        self.r = 0.5 * (self.edges[1:] + self.edges[:-1])
        self.cutoff = self.r_max + (KERNEL_REACH * bandwidth if bandwidth else 0.0)
        self.molecule = np.asarray(system.molecule, dtype=np.int64)
        self.exclude, self.normalization = exclude_intramolecular, normalization
        self.dipole, self.anisotropy = dipole, anisotropy
        self.n_atoms = system.n_atoms
        self.pairs, self.pair_count, intramolecular = [], [], 0
        n_molecules = self.molecule.max() + 1
        for a, b in pairs:
            idx_a, idx_b = system.indices(a), system.indices(b)
            for x, idx in ((a, idx_a), (b, idx_b)):
                if len(idx) < (2 if a == b else 1):
                    raise InputError(f"pair {a}-{b} needs {'two' if a == b else 'one'} {x} atom"
                                     f"{'s' if a == b else ''} or more, the trajectory has {len(idx)} "
                                     "(choose other pairs with --pairs)", source)
            self.pairs.append((a, b, idx_a, idx_b))
            within = int(np.bincount(self.molecule[idx_a], minlength=n_molecules)
                         @ np.bincount(self.molecule[idx_b], minlength=n_molecules))  # i = j included
            intramolecular += within - (len(idx_a) if a == b else 0)
            counted = len(idx_a) * len(idx_b) - (within if exclude_intramolecular else len(idx_a) if a == b else 0)
            self.pair_count.append(counted if normalization == "ideal" else len(idx_a) * len(idx_b))
        self.split = not exclude_intramolecular and intramolecular > 0  # report g_inter
        self.waters = None
        if dipole:
            self.waters = system.require_waters("the dipole correlations need waters")
            in_water = np.zeros(self.n_atoms, bool)
            in_water[self.waters.ravel()] = True
            for a, b, idx_a, idx_b in self.pairs:
                if not (in_water[idx_a].all() and in_water[idx_b].all()):
                    raise InputError(f"--dipole needs every {a} and {b} atom in a water molecule "
                                     f"(O + 2 H); pair {a}-{b} has atoms outside waters (try --pairs O-O)", source)
        self.n_core = 3 if dipole else 1
        self.n_values = self.n_core + (len(LM) if anisotropy else 0)
        self.blocks = Blocks(block_frames)

    def add(self, positions, cell):
        """Add one frame: positions (n_atoms, 3) Å, cell (3, 3) Å."""
        if cell is None:
            raise InputError("the RDF needs a periodic cell; this trajectory has none", self.source)
        self.add_frames(np.asarray(positions)[None], np.asarray(cell)[None])

    def add_chunk(self, ds):
        """Add every frame of an eqt trajectory chunk (periodic in x, y and z)."""
        if "cell" not in ds:
            raise InputError("the RDF needs a periodic cell; this trajectory has none", self.source)
        pbc = np.asarray(ds["pbc"].values, bool).reshape(-1) if "pbc" in ds else np.ones(3, bool)
        if not pbc.all():
            periodic = " and ".join("xyz"[i] for i in np.flatnonzero(pbc)) or "no direction"
            raise InputError(f"the RDF needs a cell periodic in x, y and z; this trajectory is periodic in "
                             f"{periodic} (pbc {' '.join('T' if p else 'F' for p in pbc)})", self.source)
        self.add_frames(ds["positions"].values, ds["cell"].values)

    def add_frames(self, positions, cells):
        """Add frames: positions (F, n_atoms, 3) Å, cells (F, 3, 3) Å (in batches that bound
        the per-frame grid sums to BATCH_BYTES)."""
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        cells = np.ascontiguousarray(cells, dtype=np.float64)
        if not self.all_images:
            kernel = self.cutoff - self.r_max
            name = f"r_max + {KERNEL_REACH:g} bandwidths of the kernel ({self.r_max:g} + {kernel:g})" if kernel else None
            limit = float(np.min(cellmod.minimum_image_limit(cells)))
            check_cutoff(cells, self.cutoff, self.source, f"use r_max at most {np.floor((limit - kernel) * 1e3) / 1e3:g} Å, or count all "
                         "periodic images (--all-images)", name)
        batch = max(1, BATCH_BYTES // (8 * self.bins * len(self.pairs) * (self.n_values + 5)))
        for lo in range(0, len(positions), batch):
            self._add_batch(positions[lo:lo + batch], cells[lo:lo + batch])

    def _add_batch(self, positions, cells):
        n_frames, n_pairs = len(positions), len(self.pairs)
        widths = cellmod.perpendicular_widths(cells)
        narrow = self.cutoff > cellmod.minimum_image_limit(cells)  # (all_images) frames whose images must be summed
        n_images = np.where(narrow[:, None], np.ceil(self.cutoff / widths + 0.5), 0).astype(np.int64)
        n_cells = np.ones((n_frames, 3), np.int64)
        n_cells[~narrow] = cell_bins(cells[~narrow], self.cutoff)
        u = np.zeros((n_frames, self.n_atoms if self.dipole else 1, 3))  # unused without dipole
        if self.dipole:
            for f in range(n_frames):
                axes = water_dipole_axes(positions[f], cells[f], self.waters)
                for k in range(3):
                    u[f, self.waters[:, k]] = axes
        sums = {"volume": cellmod.volume(cells), "frames": np.ones(n_frames),
                "S": np.zeros((n_frames, n_pairs, self.n_values, self.bins)),
                "counts": np.zeros((n_frames, n_pairs, self.bins)),
                "intra": np.zeros((n_frames, n_pairs, 1, self.bins))}
        for p, (a, b, idx_a, idx_b) in enumerate(self.pairs):
            core = np.zeros((n_frames, self.n_core, self.bins))
            counts = np.zeros((n_frames, self.bins))
            intra = np.zeros((n_frames, 1, self.bins))
            for frames, kernel, shape in ((~narrow, _pair_sums, n_cells), (narrow, _pair_sums_all_images, n_images)):
                if not frames.any():
                    continue
                parts = core[frames], counts[frames], intra[frames]
                kernel(positions[frames], cells[frames], shape[frames], idx_a, idx_b, a == b, self.cutoff, self.r_max,
                       float(self.bandwidth or 0.0), self.r, u[frames], self.molecule, self.exclude, *parts)
                core[frames], counts[frames], intra[frames] = parts
            sums["S"][:, p, :self.n_core], sums["counts"][:, p], sums["intra"][:, p] = core, counts, intra
            if self.anisotropy:
                for f in range(n_frames):
                    sums["S"][f, p, self.n_core:] = self._harmonic_sums(positions[f], cells[f], idx_a, idx_b, a == b)
        self.blocks.add_frames(sums)

    def _harmonic_sums(self, positions, cell, idx_a, idx_b, same):
        """Sums of Y_lm(r̂) over the pairs of one frame, spread like g (len(LM), bins)."""
        i, j, vec = pairs_within(positions, cell, self.cutoff, idx_a, None if same else idx_b)
        if self.exclude:
            vec = vec[self.molecule[i] != self.molecule[j]]
        d = np.sqrt(np.einsum("ij,ij->i", vec, vec))
        values = real_spherical_harmonics(vec / d[:, None])
        if same:  # each pair found once stands for i->j and j->i, and Y_lm(-r̂) = (-1)^l Y_lm(r̂)
            values *= 1.0 + PARITY
        out = np.zeros((len(LM), self.bins))
        if self.bandwidth:
            spread(d, values / (self.bandwidth * SQRT_2PI), float(self.bandwidth), self.r, out)
        else:
            _histogram(d, values, self.r_max, out)
        return out

    def _normalize(self, sums):
        frames = sums["frames"]
        mean_volume = sums["volume"] / frames
        if self.bandwidth:
            shell = 4.0 * np.pi * self.r**2
        else:
            shell = 4.0 / 3.0 * np.pi * np.diff(self.edges**3)
        n_a = np.array([len(idx_a) for _, _, idx_a, _ in self.pairs], float)[:, None]
        norm = frames * shell * np.array(self.pair_count, float)[:, None] / mean_volume
        s = sums["S"]
        out = {"g": s[:, 0] / norm, "n": np.cumsum(sums["counts"], axis=-1) / (frames * n_a)}
        if self.split:
            out["g_inter"] = (s[:, 0] - sums["intra"][:, 0]) / norm
        if self.dipole:
            out["c_L"] = s[:, 1] / norm
            out["c_T"] = s[:, 2] / norm
        if self.anisotropy:
            with np.errstate(invalid="ignore", divide="ignore"):
                ylm = s[:, self.n_core:] / s[:, :1]
            out["ylm"] = ylm
            degree = np.array([l for l, _ in LM])
            out["Q"] = np.stack([np.sqrt(4 * np.pi / (2 * l + 1) * np.sum(ylm[:, degree == l] ** 2, axis=1))
                                 for l in range(1, L_MAX + 1)], axis=1)
        out["mean_volume"] = np.asarray(mean_volume)
        return out

    def result(self):
        """The result Dataset (result type 'rdf', docs/results.md); *_err are NaN (with a
        warning) when fewer than 2 complete blocks were accumulated."""
        value, err = self.blocks.estimate(self._normalize, self.source)
        if len(self.blocks.blocks) < 2:
            warn(f"{self.source or 'RDF'}: {self.blocks.n_frames} frame(s) give no block errors (*_err are NaN); "
                 "errors need at least 2 frames")
        names = [f"{a}-{b}" for a, b, _, _ in self.pairs]
        coords = {"pair": results.variable("pair", names, "1", "species pair a-b (a: central atom, b: neighbour)"),
                  "r": results.variable("r", self.r, "angstrom", "pair distance (bin centre, kernel grid point)"),
                  "r_upper": results.variable("r", self.edges[1:], "angstrom", "upper bin edge"),
                  "r_edge": results.variable("edge", self.edges, "angstrom", "bin edges")}
        if self.anisotropy:
            coords["lm"] = results.variable("lm", [f"{l},{m}" for l, m in LM], "1",
                                            "degree l and order m of the real spherical harmonic Y_lm")
            coords["l"] = results.variable("l", np.arange(1, L_MAX + 1), "1", "degree l")
        pair_r = ("pair", "r")
        data = {}
        for key, dims, long_name in (
                ("g", pair_r, "radial distribution function g_ab(r)"),
                ("g_inter", pair_r, "part of g from pairs in different molecules (same normalization as g)"),
                ("n", pair_r, "coordination number: mean number of b within r_upper of an a"),
                ("c_L", pair_r, "longitudinal dipole pair correlation c_L(r)"),
                ("c_T", pair_r, "transverse dipole pair correlation c_T(r)"),
                ("ylm", ("pair", "lm", "r"), "mean real spherical harmonic Y_lm of the lab-frame pair direction"),
                ("Q", ("pair", "l", "r"), "rotational invariant Q_l of the pair-direction moments (0 if isotropic)")):
            if key in value:
                data.update(results.with_error(key, dims, value[key], err[key], "1", long_name))
        n_b = [len(idx_b) for _, _, _, idx_b in self.pairs]
        data["density"] = results.variable("pair", np.array(n_b) / value["mean_volume"], "angstrom^-3",
                                           "number density of species b, N_b / <V>")
        data["pair_count"] = results.variable("pair", self.pair_count, "1",
                                              "N_pair: ordered pairs of the ideal-gas normalization")
        data["mean_volume"] = results.variable((), value["mean_volume"], "angstrom^3", "mean cell volume")
        ds = xr.Dataset(data, coords=coords)
        return results.finish(
            ds, "rdf",
            estimator=f"gaussian kernel, bandwidth {self.bandwidth} angstrom" if self.bandwidth else "histogram",
            normalization=self.normalization, normalization_convention=self._convention(),
            exclude_intramolecular=int(self.exclude), all_images=int(self.all_images), r_max=self.r_max,
            bins=self.bins,
            n_frames=int(self.blocks.n_frames), block_frames=int(self.blocks.block_frames),
            n_blocks=len(self.blocks.blocks),
            error_growth_2x=self.blocks.error_growth(lambda s: {"g": self._normalize(s)["g"][0]}, "g"))

    def _convention(self):
        """The pair count N_pair of the normalization, in words."""
        if self.normalization == "pairs":
            return "N_pair = N_a N_b (MDAnalysis InterRDF without exclusion_block, or with exclude_same)"
        if self.exclude:
            return ("N_pair = N_a N_b minus the pairs within one molecule (i = j included): pairs neither "
                    "counted nor normalized by, as MDAnalysis InterRDF exclusion_block")
        return "N_pair = N_a (N_b - delta_ab), the pairs i != j (g -> 1 for an ideal gas of any size)"


def memory_needed(bins, n_pairs, dipole=False, anisotropy=False, max_blocks=64):
    """Bytes an RDF holds: per pair, (values + counts + intramolecular part) x bins for the
    total, the open block, up to max_blocks blocks and their normalized copies, plus one batch
    of frame sums."""
    n_values = 1 + (2 if dipole else 0) + (len(LM) if anisotropy else 0)
    per_sum = n_pairs * (n_values + 2) * bins
    return 8 * per_sum * (2 * max_blocks + 4) + max(BATCH_BYTES, 8 * bins * n_pairs * (n_values + 5))
