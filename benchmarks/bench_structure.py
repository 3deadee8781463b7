"""Structure-analysis benchmark for eqt: RDF, dipole kernel g(r), orientation, start-up, memory.

Test data: the 512-water box /work/shared/data/init-512_h2o.xyz (1 frame, cubic 24.86 Å,
O,H,H order) is turned into a seeded trajectory of --frames frames (default 200): every frame
is the original box with each molecule displaced rigidly by a Gaussian of 0.1 Å per axis plus
0.02 Å of per-atom Gaussian noise (so every molecule stays a water: O-H changes by ~0.03 Å).
Frames are rounded to float32 once (as a .nc file stores them), and every method below gets
exactly those numbers (eqt as float64, MDAnalysis/freud as float32). Molecules come from
eqt_analysis.molecules.assign on the first frame; eqt's analyses get one
eqt_analysis.system.System of the first frame with that molecule index (built once, outside
the timings, as eqt-rdf builds it from the file's first chunk; its waters are
molecules.find_waters of the first frame). Temporary files go to a temp directory.

Measured in one run (time.perf_counter; "best of R" = fastest of --repeats runs, default 3):

1. O-O RDF, histogram, 200 bins, r_max 8 Å, in memory, best of R:
   eqt rdf.RDF.add_frames(positions, cells) (+ .result()), after a warm-up call (numba
   compiled) vs MDAnalysis InterRDF(O, O, nbins=200, range=(0, 8), exclusion_block=(1, 1))
   .run() on a MemoryReader universe vs freud.density.RDF(bins=200, r_max=8)
   .compute((box, O), reset=False) per frame. Agreement: max |g_eqt - g_MDA| (both normalize
   by N_O (N_O - 1) / V, the same histogram edges); freud's default 'exact' normalization is
   N_O^2 / V (g -> (N-1)/N at large r), so freud's g is compared after multiplying it by
   N_O / (N_O - 1), and the raw difference is printed too.
2. End to end, .nc file of the same frames, fresh subprocesses (Python start-up + imports +
   reading + writing the result), best of R: `eqt-rdf traj.nc --pairs O-O --rmax 8 --bins 200
   -q -o out.nc` vs a script running the same InterRDF on
   mda.Universe(traj.nc, format='NCDF', topology_format='MINIMAL') (no topology file: the
   MINIMAL parser takes the atom count from the NetCDF file; O = every third atom).
2b. Issue 15's end-to-end measure on a long file: the frames cycled into a .nc of --long-frames
   frames (default 2000); the MDAnalysis script above, timed in process from opening the file
   (best of min(R, 2)), against `eqt-rdf long.nc ...` minus the same command with --stop 1
   (Python start-up and imports cancel; run alternately, best of max(R, 5) each, and the median of
   the paired differences for information).
3. Gaussian-kernel g(r) with dipole correlations (bandwidth 0.05 Å, O-O, r_max 8, 200 grid
   points = eqt's bin centres): eqt RDF(system, "O-O", bandwidth=0.05, dipole=True) vs
   "the paper's approach": per frame ase.neighborlist.neighbor_list('ijdD', atoms, r_cut) on
   all atoms, then a NumPy loop over O atoms (its O neighbours, Gaussian kernels of all their
   distances on the grid by broadcasting, dipole axes u = H-H midpoint minus O by minimum
   image, sums for g, c_L, c_T). r_cut = 8 + 5 h = 8.25 Å, the cutoff eqt uses for the kernel
   (pairs up to 5 h beyond r_max still reach the grid); with 8.0 the last 25 grid points would
   differ. The reference does not truncate the Gaussians (eqt cuts them at 5 h: differences of
   order 1e-6 relative). The slow approach runs on --slow-frames frames (default 5), per-frame
   times are compared, and both are compared on those frames (max abs diff of g, c_L, c_T).
4. Orientation (eqt Orientation, 50 x 100 grid, bandwidth 0.1, add() per frame + result(),
   all frames, best of R) vs a plain NumPy broadcast KDE: per chunk of 256 samples, for
   each of the 3 x 3 image pairs (reflecting 2 - c, -2 - c in cos θ; periodic φ ± 2π) the 2D
   Gaussian exp(-(Δc²/h_c² + Δφ²/h_φ²)/2) on the whole grid, (256, 50, 100) at a time,
   summed over samples; no truncation. It runs on --orient-frames frames (default 20);
   per-frame times are compared, and P against eqt on the same frames. For information also
   the separable NumPy versions (per-sample cos θ and φ Gaussians with eqt's 5-width cut,
   combined by a broadcast product or by one BLAS matrix product) on all frames.
5. Start-up: `eqt-rdf small.nc` (5 frames) in a fresh subprocess with NUMBA_CACHE_DIR set to
   a new empty directory (numba compiles every kernel it calls), then again with that
   directory (cached); `python -c "import eqt_analysis.rdf"` and `python -c pass` for
   reference. Compile time = first - second.
6. Memory: peak RSS (VmHWM from /proc/self/status, printed at exit by a wrapper around eqt's
   click command in a fresh subprocess) of eqt-rdf on .nc files of N and 5 N frames
   (--mem-frames N, default 512 = 2 chunks of 256, as a file of one chunk never holds two
   chunks at once and peaks ~30 MB lower); it must not grow with the number of frames.

numba caches: the whole run uses NUMBA_CACHE_DIR = a new temporary directory (nothing is
written into the repository's __pycache__), so the in-process warm-up of part 1 includes
compiling eqt's kernels once; part 5's cold run uses a second, empty one.

Run from the repository root with the project venv active:

    python benchmarks/bench_structure.py                 # 200 frames; ~75 s on 2 cores
    python benchmarks/bench_structure.py --frames 100 --repeats 2 --slow-frames 3
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings

import numpy as np

WATER_XYZ = "/work/shared/data/init-512_h2o.xyz"
R_MAX, BINS, BANDWIDTH = 8.0, 200, 0.05
N_COS, N_PHI, H_COS = 50, 100, 0.1
REACH = 5.0

warnings.filterwarnings("ignore")  # MDAnalysis NCDF/MINIMAL warnings


def best_of(fn, repeats):
    """(fastest seconds, result of the last call)."""
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run_timed(cmd, env=None, check=True):
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return dt, proc


# --------------------------------------------------------------------------- test data
def make_trajectory(n_frames, seed=0):
    """(numbers, molecule, positions (F, N, 3) float64 of float32 values, cells (F, 3, 3))."""
    from eqt_analysis import io, molecules

    ds = io.open_trajectory(WATER_XYZ)
    numbers = ds["atomic_number"].values
    base = ds["positions"].values[0]
    cell = ds["cell"].values[0]
    molecule = molecules.assign(numbers, base, cell, ds["pbc"].values)
    rng = np.random.default_rng(seed)
    n_mol = molecule.max() + 1
    rigid = rng.normal(scale=0.1, size=(n_frames, n_mol, 3))
    noise = rng.normal(scale=0.02, size=(n_frames, len(numbers), 3))
    positions = (base + rigid[:, molecule] + noise).astype(np.float32).astype(np.float64)
    cells = np.broadcast_to(cell.astype(np.float32).astype(np.float64), (n_frames, 3, 3)).copy()
    for f in (0, n_frames - 1):  # molecules stay waters
        m = molecules.assign(numbers, positions[f], cells[f], ds["pbc"].values)
        assert np.array_equal(m, molecule) and len(make_system(numbers, m, positions[f], cells[f]).waters) == n_mol
    return numbers, molecule, positions, cells


def make_system(numbers, molecule, position, cell):
    """The eqt System of one frame (periodic, with the given molecule index)."""
    from eqt_analysis.system import System

    return System(numbers, position, cell, pbc=(True, True, True), molecule=molecule, source="bench")


def write_nc(path, numbers, molecule, positions, cells, chunk=256):
    from eqt_analysis import trajectory as traj
    from eqt_analysis.io.netcdf import NetCDFWriter

    with NetCDFWriter(path) as writer:
        for lo in range(0, len(positions), chunk):
            hi = min(lo + chunk, len(positions))
            writer.write(traj.build(positions[lo:hi], numbers, cell=cells[lo:hi], pbc=np.ones(3, bool),
                                    molecule=molecule))


def write_nc_repeated(path, numbers, molecule, positions, cells, n_frames, chunk=256):
    """n_frames frames cycling through `positions` (for the memory test), written by chunks."""
    from eqt_analysis import trajectory as traj
    from eqt_analysis.io.netcdf import NetCDFWriter

    with NetCDFWriter(path) as writer:
        for lo in range(0, n_frames, chunk):
            idx = np.arange(lo, min(lo + chunk, n_frames)) % len(positions)
            writer.write(traj.build(positions[idx], numbers, cell=cells[idx], pbc=np.ones(3, bool),
                                    molecule=molecule))


# --------------------------------------------------------------------------- 1. histogram RDF
def eqt_rdf(system, positions, cells, **kw):
    from eqt_analysis import rdf

    calc = rdf.RDF(system, "O-O", r_max=R_MAX, bins=BINS, **kw)
    calc.add_frames(positions, cells)
    return calc


def mda_memory_universe(positions, cells):
    import MDAnalysis as mda
    from MDAnalysis.coordinates.memory import MemoryReader

    n_frames, n_atoms = positions.shape[:2]
    u = mda.Universe.empty(n_atoms, trajectory=False)
    lengths = np.linalg.norm(cells, axis=-1)
    dims = np.column_stack([lengths, np.full((n_frames, 3), 90.0)]).astype(np.float32)
    u.load_new(positions.astype(np.float32), format=MemoryReader, dimensions=dims)
    return u


def mda_rdf(u, oxygen_idx):
    from MDAnalysis.analysis.rdf import InterRDF

    o = u.atoms[oxygen_idx]
    return InterRDF(o, o, nbins=BINS, range=(0.0, R_MAX), exclusion_block=(1, 1)).run()


def freud_rdf(o_positions32, cells, wrap=True):
    """freud needs points inside the box: unwrapped input silently loses pairs."""
    import freud

    calc = freud.density.RDF(bins=BINS, r_max=R_MAX)
    for pos, cell in zip(o_positions32, cells):
        box = freud.box.Box.from_matrix(cell.T)
        calc.compute((box, box.wrap(pos) if wrap else pos), reset=False)
    return calc


# --------------------------------------------------------------------------- 3. paper's kernel g(r)
def dipole_axes_np(pos, cell, waters):
    inv = np.linalg.inv(cell)
    o = pos[waters[:, 0]]
    h1 = pos[waters[:, 1]] - o
    h2 = pos[waters[:, 2]] - o
    h1 -= np.round(h1 @ inv) @ cell
    h2 -= np.round(h2 @ inv) @ cell
    u = 0.5 * (h1 + h2)
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def paper_kernel_sums(pos, cell, numbers, waters, grid, h, r_cut):
    """One frame: sums (3, grid) of K, K (r̂·u_i)(r̂·u_j), K (u_i·u_j - ...) over ordered O-O pairs."""
    import ase
    from ase.neighborlist import neighbor_list

    atoms = ase.Atoms(numbers=numbers, positions=pos, cell=cell, pbc=True)
    i, j, d, D = neighbor_list("ijdD", atoms, r_cut)
    u = np.zeros((len(numbers), 3))
    u[waters[:, 0]] = dipole_axes_np(pos, cell, waters)
    is_o = numbers == 8
    order = np.argsort(i, kind="stable")
    i, j, d, D = i[order], j[order], d[order], D[order]
    bounds = np.searchsorted(i, np.arange(len(numbers) + 1))
    norm = 1.0 / (h * np.sqrt(2.0 * np.pi))
    sums = np.zeros((3, len(grid)))
    for a in np.flatnonzero(is_o):
        lo, hi = bounds[a], bounds[a + 1]
        keep = is_o[j[lo:hi]]
        jj, dd, vv = j[lo:hi][keep], d[lo:hi][keep], D[lo:hi][keep]
        kern = norm * np.exp(-0.5 * ((grid[None, :] - dd[:, None]) / h) ** 2)  # (pairs, grid)
        rhat = vv / dd[:, None]
        ri = rhat @ u[a]
        rj = np.einsum("ij,ij->i", rhat, u[jj])
        long = ri * rj
        sums[0] += kern.sum(axis=0)
        sums[1] += long @ kern
        sums[2] += (u[jj] @ u[a] - long) @ kern
    return sums


def paper_kernel_gr(positions, cells, numbers, waters, grid, h, r_cut):
    sums = sum(paper_kernel_sums(p, c, numbers, waters, grid, h, r_cut) for p, c in zip(positions, cells))
    n_o = int(np.sum(numbers == 8))
    volume = np.mean(np.abs(np.linalg.det(cells)))
    norm = len(positions) * 4.0 * np.pi * grid**2 * n_o * (n_o - 1) / volume
    return sums / norm


# --------------------------------------------------------------------------- 4. NumPy orientation KDE
def _gauss_images(x, grid, images, width):
    """(n, grid) sum over images of exp(-0.5 ((grid - image) / width)^2), cut at 5 widths."""
    total = np.zeros((len(x), len(grid)))
    for image in images(x):
        z = (grid[None, :] - image[:, None]) / width
        total += np.where(np.abs(z) < REACH, np.exp(-0.5 * z * z), 0.0)
    return total


def numpy_orientation(positions, cells, waters, blas=False, chunk=1024):
    us = np.concatenate([dipole_axes_np(p, c, waters) for p, c in zip(positions, cells)])
    cos_t = np.clip(us[:, 2], -1.0, 1.0)
    phi = np.arctan2(us[:, 1], us[:, 0])
    h_p = np.pi * H_COS
    cos_grid = -1.0 + (np.arange(N_COS) + 0.5) * 2.0 / N_COS
    phi_grid = -np.pi + (np.arange(N_PHI) + 0.5) * 2.0 * np.pi / N_PHI
    out = np.zeros((N_COS, N_PHI))
    for lo in range(0, len(cos_t), chunk):
        c, p = cos_t[lo:lo + chunk], phi[lo:lo + chunk]
        wc = _gauss_images(c, cos_grid, lambda x: (x, 2.0 - x, -2.0 - x), H_COS)
        wp = _gauss_images(p, phi_grid, lambda x: (x, x + 2 * np.pi, x - 2 * np.pi), h_p)
        if blas:
            out += wc.T @ wp
        else:
            out += (wc[:, :, None] * wp[:, None, :]).sum(axis=0)  # all samples x all grid points
    return out / (2.0 * np.pi * H_COS * h_p) / len(cos_t) * 4.0 * np.pi


def numpy_orientation_2d(positions, cells, waters, chunk=256):
    """Plain 2D broadcast: for every sample, every (cos θ, φ) grid point and every one of the
    3 x 3 image pairs, exp(-(Δc²/h_c² + Δφ²/h_φ²) / 2); no truncation."""
    us = np.concatenate([dipole_axes_np(p, c, waters) for p, c in zip(positions, cells)])
    cos_t = np.clip(us[:, 2], -1.0, 1.0)
    phi = np.arctan2(us[:, 1], us[:, 0])
    h_p = np.pi * H_COS
    cos_grid = -1.0 + (np.arange(N_COS) + 0.5) * 2.0 / N_COS
    phi_grid = -np.pi + (np.arange(N_PHI) + 0.5) * 2.0 * np.pi / N_PHI
    cg, pg = np.meshgrid(cos_grid, phi_grid, indexing="ij")
    out = np.zeros((N_COS, N_PHI))
    for lo in range(0, len(cos_t), chunk):
        c = cos_t[lo:lo + chunk, None, None]
        p = phi[lo:lo + chunk, None, None]
        for ci in (c, 2.0 - c, -2.0 - c):
            zc = ((cg - ci) / H_COS) ** 2
            for pi in (p, p + 2.0 * np.pi, p - 2.0 * np.pi):
                out += np.exp(-0.5 * (zc + ((pg - pi) / h_p) ** 2)).sum(axis=0)
    return out / (2.0 * np.pi * H_COS * h_p) / len(cos_t) * 4.0 * np.pi


def eqt_orientation(system, positions, cells):
    from eqt_analysis import orient

    calc = orient.Orientation(system, n_cos=N_COS, n_phi=N_PHI, bandwidth=H_COS)
    for p, c in zip(positions, cells):
        calc.add(p, c)
    return calc.result()


# --------------------------------------------------------------------------- 6. memory wrapper
MEM_WRAPPER = textwrap.dedent("""
    import atexit, sys
    def report():
        with open('/proc/self/status') as f:
            hwm = [l for l in f if l.startswith('VmHWM')][0].split()[1]
        sys.stderr.write(f'VMHWM_KB {hwm}\\n')
    atexit.register(report)
    from eqt_cli.rdf import main
    sys.argv = ['eqt-rdf'] + sys.argv[1:]
    main()
""")

MDA_SCRIPT = textwrap.dedent("""
    import sys, warnings
    warnings.filterwarnings('ignore')
    import numpy as np
    import time
    import MDAnalysis as mda
    from MDAnalysis.analysis.rdf import InterRDF
    t = time.perf_counter()
    u = mda.Universe(sys.argv[1], format='NCDF', topology_format='MINIMAL')
    o = u.atoms[::3]
    r = InterRDF(o, o, nbins=200, range=(0.0, 8.0), exclusion_block=(1, 1)).run()
    print(time.perf_counter() - t)  # in process, from opening the file
    np.save(sys.argv[2], np.stack([r.results.bins, r.results.rdf]))
""")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slow-frames", type=int, default=5, help="frames for the ASE+NumPy kernel g(r)")
    parser.add_argument("--orient-frames", type=int, default=20, help="frames for the NumPy 2D orientation KDE")
    parser.add_argument("--long-frames", type=int, default=2000, help="frames of the end-to-end file of issue 15")
    parser.add_argument("--mem-frames", type=int, default=512, help="N for the N vs 5N memory test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    R = args.repeats
    t_start = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="eqt-bench-structure-")
    numba_cache = os.path.join(tmp, "numba-cache")
    os.environ["NUMBA_CACHE_DIR"] = numba_cache  # before numba is imported
    env = dict(os.environ)
    env_cold = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "numba-cache-cold"))
    import ase
    import freud
    import MDAnalysis
    import numba

    from eqt_analysis import rdf

    bindir = os.path.dirname(sys.executable)
    eqt_rdf_cmd = os.path.join(bindir, "eqt-rdf")
    rows = []  # (label, seconds eqt, seconds other, ratio label)
    try:
        t = time.perf_counter()
        numbers, molecule, positions, cells = make_trajectory(args.frames, args.seed)
        F, N = positions.shape[:2]
        oxygen = np.flatnonzero(numbers == 8)
        n_o = len(oxygen)
        system = make_system(numbers, molecule, positions[0], cells[0])
        waters = system.waters  # found once here (cached on the System), as eqt-rdf/eqt-orient do per run
        t_data = time.perf_counter() - t
        print(f"eqt structure benchmark: {F} frames x {N} atoms ({n_o} waters, cubic {cells[0, 0, 0]:.2f} Å), "
              f"nproc {os.cpu_count()}, numba threads {numba.get_num_threads()}, Python {sys.version.split()[0]}")
        print(f"  numpy {np.__version__}, numba {numba.__version__}, MDAnalysis {MDAnalysis.__version__}, "
              f"freud {freud.__version__}, ase {ase.__version__}; data built in {t_data:.1f} s")

        # ---------------------------------------------------------------- 1
        print(f"\n1. O-O RDF, histogram, {BINS} bins, r_max {R_MAX} Å, {F} frames in memory, best of {R}")
        t = time.perf_counter()
        eqt_rdf(system, positions[:2], cells[:2])  # warm-up (numba compile or cache load)
        t_warm = time.perf_counter() - t
        t_eqt, calc = best_of(lambda: eqt_rdf(system, positions, cells), R)
        t_res, res = best_of(calc.result, R)
        g_eqt = res["g"].sel(pair="O-O").values
        u = mda_memory_universe(positions, cells)
        t_mda, mres = best_of(lambda: mda_rdf(u, oxygen), R)
        g_mda = mres.results.rdf
        o32 = np.ascontiguousarray(positions[:, oxygen].astype(np.float32))
        t_freud, fres = best_of(lambda: freud_rdf(o32, cells), R)
        g_freud = np.asarray(fres.rdf, float)
        g_freud_unwrapped = np.asarray(freud_rdf(o32, cells, wrap=False).rdf, float)
        assert np.allclose(mres.results.bins, calc.r) and np.allclose(fres.bin_centers, calc.r, atol=1e-5)
        scale = n_o / (n_o - 1)
        print(f"  eqt warm-up call (2 frames; compiles the kernel into an empty NUMBA_CACHE_DIR): {t_warm:.2f} s")
        print(f"  {'method':48s} {'seconds':>8s} {'ms/frame':>9s}")
        for name, s in [("eqt RDF.add_frames", t_eqt), ("eqt RDF.result() (normalize + 64-block errors)", t_res),
                        ("MDAnalysis InterRDF.run (MemoryReader)", t_mda),
                        ("freud density.RDF.compute(reset=False) per frame", t_freud)]:
            print(f"  {name:48s} {s:8.3f} {1e3 * s / F:9.2f}")
        print(f"  max |g_eqt - g_MDA|                         = {np.max(np.abs(g_eqt - g_mda)):.2e}  "
              f"(both N(N-1)/V; peak g {g_eqt.max():.3f})")
        print(f"  max |g_eqt - g_freud * N/(N-1)|             = {np.max(np.abs(g_eqt - g_freud * scale)):.2e}  "
              f"(freud 'exact' = N^2/V normalization, rescaled)")
        print(f"  max |g_eqt - g_freud| raw                   = {np.max(np.abs(g_eqt - g_freud)):.2e}  "
              f"(expected ~ g_max/N = {g_eqt.max() / n_o:.2e})")
        print(f"  (differences of single pairs moved across a bin edge by float32 rounding; freud given unwrapped\n"
              f"   coordinates instead of box.wrap() ones silently loses pairs: max diff "
              f"{np.max(np.abs(g_eqt - g_freud_unwrapped * scale)):.1e}; the timing includes box.wrap)")
        print(f"  ratio MDA/eqt   {t_mda / t_eqt:6.1f}x   (target >= 20x)")
        print(f"  ratio freud/eqt {t_freud / t_eqt:6.2f}x   (target >= 1x)")
        rows += [("RDF hist in memory: MDAnalysis / eqt", t_mda, t_eqt, 20),
                 ("RDF hist in memory: freud / eqt", t_freud, t_eqt, 1)]

        # ---------------------------------------------------------------- 5 (first: it needs a cold cache)
        small = os.path.join(tmp, "small.nc")
        write_nc(small, numbers, molecule, positions[:5], cells[:5])
        cmd_small = [eqt_rdf_cmd, small, "--pairs", "O-O", "--rmax", "8", "--bins", "200", "-q",
                     "-o", os.path.join(tmp, "small.rdf.nc")]
        t_cold, _ = run_timed(cmd_small, env_cold)  # empty NUMBA_CACHE_DIR: compiles
        t_cached = min(run_timed(cmd_small, env_cold)[0] for _ in range(R))
        t_import = min(run_timed([sys.executable, "-c", "import eqt_analysis.rdf"], env)[0] for _ in range(R))
        t_pass = min(run_timed([sys.executable, "-c", "pass"], env)[0] for _ in range(R))
        t_numba, t_xarray = (min(run_timed([sys.executable, "-c", f"import {m}"], env)[0] for _ in range(R))
                             for m in ("numba", "xarray"))
        # as a plain `pip install eqt` (no dask) sees it: xarray imports dask.array whenever dask is
        # installed (its duck-array check on every new Variable) and dask.distributed in to_netcdf
        no_dask_dir = os.path.join(tmp, "no_dask")
        os.makedirs(no_dask_dir)
        with open(os.path.join(no_dask_dir, "sitecustomize.py"), "w") as handle:
            handle.write("import sys\nsys.modules['dask'] = sys.modules['distributed'] = None\n")
        env_no_dask = dict(env_cold, PYTHONPATH=os.pathsep.join(filter(None, [no_dask_dir, env_cold.get("PYTHONPATH")])))
        t_no_dask = min(run_timed(cmd_small, env_no_dask)[0] for _ in range(R))

        # ---------------------------------------------------------------- 2
        print(f"\n2. end to end, .nc file ({F} frames, float32), fresh subprocess each, best of {R}")
        nc = os.path.join(tmp, "traj.nc")
        write_nc(nc, numbers, molecule, positions, cells)
        out_nc = os.path.join(tmp, "traj.rdf.nc")
        cmd = [eqt_rdf_cmd, nc, "--pairs", "O-O", "--rmax", "8", "--bins", "200", "-q", "-o", out_nc]
        run_timed(cmd_small, env)  # untimed: the CLI's molecule index is int32 -> another kernel specialization
        t_cli = min(run_timed(cmd, env)[0] for _ in range(R))
        script = os.path.join(tmp, "mda_rdf.py")
        with open(script, "w") as handle:
            handle.write(MDA_SCRIPT)
        out_npy = os.path.join(tmp, "mda.npy")
        t_mda_cli = min(run_timed([sys.executable, script, nc, out_npy], env)[0] for _ in range(R))
        import xarray as xr

        with xr.open_dataset(out_nc) as ds:
            g_cli = ds["g"].sel(pair="O-O").values
        g_mda_cli = np.load(out_npy)[1]
        print(f"  {'command':66s} {'seconds':>8s}")
        print(f"  {'eqt-rdf traj.nc --pairs O-O --rmax 8 --bins 200 -q':66s} {t_cli:8.3f}")
        print(f"  {'python mda_rdf.py (Universe(nc, NCDF, MINIMAL) + InterRDF)':66s} {t_mda_cli:8.3f}")
        print(f"  max |g_eqt-rdf - g_MDA script| = {np.max(np.abs(g_cli - g_mda_cli)):.2e}; "
              f"vs in-memory eqt = {np.max(np.abs(g_cli - g_eqt)):.2e}")
        print(f"  ratio MDA script / eqt-rdf {t_mda_cli / t_cli:5.2f}x")
        rows.append(("RDF end to end (subprocess, .nc): MDA / eqt-rdf", t_mda_cli, t_cli, None))

        # ---------------------------------------------------------------- 2b
        L = args.long_frames
        print(f"\n2b. issue 15's measure: a .nc of {L} frames (the {F} frames cycled), MDAnalysis timed in process "
              f"from opening the file (best of {min(R, 2)}), eqt-rdf as a command minus the same command with "
              f"--stop 1")
        long_nc = os.path.join(tmp, "long.nc")
        write_nc_repeated(long_nc, numbers, molecule, positions, cells, L)
        cmd_long = [eqt_rdf_cmd, long_nc, "--pairs", "O-O", "--rmax", "8", "--bins", "200", "-q"]
        longs, ones = [], []
        for _ in range(max(R, 5)):  # interleaved: the start-up (imports) varies by +-0.3 s from run to run
            longs.append(run_timed(cmd_long + ["-o", out_nc], env)[0])
            ones.append(run_timed(cmd_long + ["--stop", "1", "-o", os.path.join(tmp, "one.rdf.nc")], env)[0])
        t_long, t_one = min(longs), min(ones)
        paired = np.median(np.subtract(longs, ones))
        t_mda_long = min(float(run_timed([sys.executable, script, long_nc, out_npy], env)[1].stdout.split()[-1])
                         for _ in range(min(R, 2)))
        with xr.open_dataset(out_nc) as ds:
            g_long = ds["g"].sel(pair="O-O").values
        print(f"  eqt-rdf long.nc {t_long:.3f} s, with --stop 1 {t_one:.3f} s (best of {len(longs)} each): "
              f"{t_long - t_one:.3f} s for {L - 1} frames (median of the paired differences {paired:.3f} s: "
              f"{t_mda_long / paired:.1f}x); MDAnalysis in process {t_mda_long:.2f} s")
        print(f"  max |g_eqt-rdf - g_MDA| = {np.max(np.abs(g_long - np.load(out_npy)[1])):.2e}")
        print(f"  ratio MDA / (eqt-rdf minus one frame) {t_mda_long / (t_long - t_one):5.1f}x   (issue 15: >= 30x)")
        rows.append((f"RDF end to end, {L} frames: MDA / (eqt-rdf - 1 frame)", t_mda_long, t_long - t_one, 30))

        # ---------------------------------------------------------------- 3
        S = min(args.slow_frames, F)
        print(f"\n3. kernel g(r) + dipole c_L, c_T (h {BANDWIDTH} Å, O-O, r_max {R_MAX}, {BINS} points)")
        kw = dict(bandwidth=BANDWIDTH, dipole=True)
        eqt_rdf(system, positions[:2], cells[:2], **kw)  # warm-up
        t_k, _ = best_of(lambda: eqt_rdf(system, positions, cells, **kw), R)
        grid = rdf.RDF(system, "O-O", r_max=R_MAX, bins=BINS).r
        r_cut = R_MAX + REACH * BANDWIDTH
        t = time.perf_counter()
        ref = paper_kernel_gr(positions[:S], cells[:S], numbers, waters, grid, BANDWIDTH, r_cut)
        t_slow = time.perf_counter() - t
        small_res = eqt_rdf(system, positions[:S], cells[:S], **kw).result()
        diffs = [np.max(np.abs(small_res[k].sel(pair="O-O").values - ref[c]))
                 for c, k in enumerate(("g", "c_L", "c_T"))]
        per_eqt, per_slow = t_k / F, t_slow / S
        print(f"  eqt RDF(bandwidth, dipole).add_frames, {F} frames, best of {R}: {t_k:.3f} s = "
              f"{1e3 * per_eqt:.2f} ms/frame")
        print(f"  ASE neighbor_list('ijdD', r_cut {r_cut:g}) + NumPy per O atom, {S} frames: {t_slow:.2f} s = "
              f"{1e3 * per_slow:.0f} ms/frame")
        print(f"  on those {S} frames: max|dg| {diffs[0]:.1e}, max|dc_L| {diffs[1]:.1e}, max|dc_T| {diffs[2]:.1e} "
              f"(peak g {ref[0].max():.2f}, max|c_L| {np.abs(ref[1]).max():.2f})")
        print(f"  ratio per frame ASE+NumPy / eqt {per_slow / per_eqt:7.0f}x   (target >= 100x)")
        rows.append(("kernel g+dipole per frame: ASE+NumPy / eqt", per_slow, per_eqt, 100))

        # ---------------------------------------------------------------- 4
        print(f"\n4. orientation P(cos θ, φ), {N_COS} x {N_PHI} grid, bandwidth {H_COS}, {F} frames x {len(waters)} "
              f"waters, best of {R}")
        eqt_orientation(system, positions[:2], cells[:2])  # warm-up
        t_o, ores = best_of(lambda: eqt_orientation(system, positions, cells), R)
        p_eqt = ores["P"].values
        So = min(args.orient_frames, F)
        t_2d, p_2d = best_of(lambda: numpy_orientation_2d(positions[:So], cells[:So], waters), 1)
        p_eqt_so = eqt_orientation(system, positions[:So], cells[:So])["P"].values
        t_sep, p_sep = best_of(lambda: numpy_orientation(positions, cells, waters), min(R, 2))
        t_blas, p_blas = best_of(lambda: numpy_orientation(positions, cells, waters, blas=True), R)
        print(f"  {'method':62s} {'frames':>6s} {'seconds':>8s} {'ms/frame':>9s} {'max|dP|':>8s}")
        for name, n, s_, d in [
                ("eqt Orientation.add per frame + result()", F, t_o, 0.0),
                ("NumPy 2D broadcast, 9 image pairs, 256 samples x 50 x 100", So, t_2d,
                 np.max(np.abs(p_eqt_so - p_2d))),
                ("NumPy separable broadcast (1024 x 50 x 100 products, info)", F, t_sep,
                 np.max(np.abs(p_eqt - p_sep))),
                ("NumPy separable, summed by one BLAS matmul (info)", F, t_blas, np.max(np.abs(p_eqt - p_blas)))]:
            print(f"  {name:62s} {n:6d} {s_:8.3f} {1e3 * s_ / n:9.2f} {d:8.1e}")
        print("  (max|dP| vs eqt on the same frames; P ~ 1; the 2D broadcast does not truncate the Gaussians)")
        per_o, per_2d = t_o / F, t_2d / So
        print(f"  ratio per frame NumPy 2D broadcast / eqt {per_2d / per_o:6.1f}x   (target >= 50x);  "
              f"separable / eqt {t_sep / t_o:5.2f}x;  BLAS / eqt {t_blas / t_o:5.2f}x")
        rows += [("orientation per frame: NumPy 2D broadcast / eqt", per_2d, per_o, 50),
                 ("orientation: NumPy separable broadcast / eqt (info)", t_sep, t_o, None),
                 ("orientation: NumPy separable BLAS / eqt (info)", t_blas, t_o, None)]

        # ---------------------------------------------------------------- 5 (report)
        print(f"\n5. start-up, fresh subprocesses (best of {R} except the cold run)")
        print(f"  eqt-rdf small.nc (5 frames), empty NUMBA_CACHE_DIR (compiles) {t_cold:7.2f} s")
        print(f"  eqt-rdf small.nc (5 frames), cached                          {t_cached:7.2f} s")
        print(f"  same, dask not importable (a plain install, without eqt[dask]) {t_no_dask:7.2f} s")
        print(f"  python -c 'import eqt_analysis.rdf'                           {t_import:7.2f} s")
        print(f"  python -c 'import numba'                                      {t_numba:7.2f} s")
        print(f"  python -c 'import xarray'                                     {t_xarray:7.2f} s")
        print(f"  python -c pass                                                {t_pass:7.2f} s")
        print(f"  compile time (cold - cached) {t_cold - t_cached:.2f} s; cached start-up {t_cached:.2f} s")

        # ---------------------------------------------------------------- 6
        M = args.mem_frames
        print("\n6. peak RSS of eqt-rdf (VmHWM, fresh subprocess, default --chunk 256)")
        wrapper = os.path.join(tmp, "mem_wrapper.py")
        with open(wrapper, "w") as handle:
            handle.write(MEM_WRAPPER)
        mem = []
        for n in (M, 5 * M):
            path = os.path.join(tmp, f"mem{n}.nc")
            write_nc_repeated(path, numbers, molecule, positions, cells, n)
            dt, proc = run_timed([sys.executable, wrapper, path, "--pairs", "O-O", "--rmax", "8", "--bins", "200",
                                  "-q", "-o", os.path.join(tmp, f"mem{n}.rdf.nc")], env)
            kb = int([l for l in proc.stderr.splitlines() if l.startswith("VMHWM_KB")][0].split()[1])
            mem.append(kb / 1024)
            print(f"  {n:6d} frames  file {os.path.getsize(path) / 2**20:6.1f} MB  peak RSS {kb / 1024:7.1f} MB  "
                  f"({dt:.2f} s)")
            os.remove(path)
        print(f"  ratio 5N/N peak RSS {mem[1] / mem[0]:.3f}x (must stay ~1)")

        # ---------------------------------------------------------------- summary
        print("\nSummary (other / eqt; > 1 means eqt is faster)")
        print(f"  {'comparison':52s} {'other s':>9s} {'eqt s':>9s} {'ratio':>8s} {'target':>7s}")
        for name, other, mine, target in rows:
            tgt = f">= {target}x" if target else "-"
            ok = "" if target is None else ("  ok" if other / mine >= target else "  MISSED")
            print(f"  {name:52s} {other:9.4f} {mine:9.4f} {other / mine:7.2f}x {tgt:>7s}{ok}")
        print(f"  {'start-up: compile time / cached eqt-rdf (5 frames)':52s} {t_cold - t_cached:9.2f} {t_cached:9.2f}")
        print(f"  {'memory: peak RSS 5N / N frames (MB)':52s} {mem[1]:9.1f} {mem[0]:9.1f} {mem[1] / mem[0]:7.3f}x"
              f" {'~1':>7s}")
        print(f"total benchmark time {time.perf_counter() - t_start:.0f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
