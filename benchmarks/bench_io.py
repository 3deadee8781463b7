"""Trajectory I/O benchmark for eqt: read throughput and memory flatness.

What is measured (all on one seeded synthetic water-like trajectory: O,H,H molecules in a
cubic cell of ~12.4 Å, positions + forces + potential energy per frame, generated once and
written to a temporary directory both as extxyz with `ase.io.write` and as an eqt AMBER
NetCDF file with `eqt_analysis.io.netcdf.NetCDFWriter`):

1. Read throughput, frames/s, best of 3 repeats (time.perf_counter), each reader touching
   the positions of every frame:
     a. eqt  `iter_trajectory(file.nc)`          chunk['positions'].values
     b. ASE  `ase.io.iread(file.xyz)`            atoms.positions
     c. MDAnalysis `NCDFReader(file.nc)`         ts.positions
     d. eqt  `iter_trajectory(file.xyz)`         (eqt's extxyz reader, through ASE)
   and the ratios eqt-nc / ASE-extxyz and eqt-nc / MDAnalysis-NCDF.

2. Memory flatness of `iter_trajectory` on .nc files of N and 10*N frames (the long file is
   written by appending chunks). Each file is streamed in a fresh subprocess: one plain pass
   (peak RSS: VmHWM from /proc/self/status on Linux, else resource.getrusage's ru_maxrss;
   also as growth over the RSS after imports), then a pass under tracemalloc (peak of
   Python/numpy allocations). Flat means the 10*N / N ratio of the peaks stays near 1.

Run (from the repository root, with eqt's venv active):

    python benchmarks/bench_io.py                      # 2000 frames x 192 atoms
    python benchmarks/bench_io.py --frames 500 --atoms 96
    python benchmarks/bench_io.py --mem-frames 1000    # memory test on 1000 vs 10000 frames
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings

import numpy as np

CELL_EDGE = 12.42  # Å: 64 water molecules at ~1 g/cm3
CHUNK = 256


# --------------------------------------------------------------------------- synthetic data
def water_chunks(n_frames, n_atoms, seed=0, chunk=CHUNK):
    """Yield eqt chunks of a seeded random water-like trajectory (O,H,H repeated)."""
    from eqt_analysis import trajectory as traj

    rng = np.random.default_rng(seed)
    n_mol = n_atoms // 3
    numbers = np.tile([8, 1, 1], n_mol)
    edge = CELL_EDGE * (n_mol / 64) ** (1 / 3)
    oxygen = rng.uniform(0, edge, (n_mol, 3))
    bonds = rng.normal(size=(n_mol, 2, 3))
    bonds *= 0.96 / np.linalg.norm(bonds, axis=-1, keepdims=True)
    base = np.concatenate([oxygen[:, None], oxygen[:, None] + bonds], axis=1).reshape(n_atoms, 3)
    cell = np.eye(3) * edge
    for lo in range(0, n_frames, chunk):
        n = min(chunk, n_frames - lo)
        positions = base + rng.normal(scale=0.1, size=(n, n_atoms, 3))
        forces = rng.normal(scale=1.0, size=(n, n_atoms, 3))
        energy = -470.0 * n_mol / 64 + rng.normal(scale=0.5, size=n)
        yield traj.build(positions, numbers, cell=np.broadcast_to(cell, (n, 3, 3)), forces=forces,
                         time=(lo + np.arange(n)) * 0.001,
                         frame_data={"potential_energy": (energy, "electronvolt")})


def write_nc(path, chunks):
    from eqt_analysis.io.netcdf import NetCDFWriter

    with NetCDFWriter(path) as writer:
        for chunk in chunks:
            writer.write(chunk)


def write_extxyz(path, chunks):
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    with open(path, "w") as handle:
        for chunk in chunks:
            numbers = chunk["atomic_number"].values
            frames = []
            for pos, cell, frc, e in zip(chunk["positions"].values, chunk["cell"].values,
                                         chunk["forces"].values, chunk["potential_energy"].values):
                atoms = ase.Atoms(numbers=numbers, positions=pos, cell=cell, pbc=True)
                atoms.calc = SinglePointCalculator(atoms, energy=float(e), forces=frc)
                frames.append(atoms)
            ase.io.write(handle, frames, format="extxyz")


# --------------------------------------------------------------------------- readers
def read_eqt(path):
    from eqt_analysis.io import iter_trajectory

    n = 0
    for chunk in iter_trajectory(path, chunk_frames=CHUNK):
        n += chunk["positions"].values.shape[0]
    return n


def read_ase(path):
    import ase.io

    n = 0
    for atoms in ase.io.iread(path, index=":", format="extxyz"):
        atoms.positions
        n += 1
    return n


def read_mda(path):
    from MDAnalysis.coordinates.TRJ import NCDFReader

    n = 0
    with NCDFReader(path) as reader:
        for ts in reader:
            ts.positions
            n += 1
    return n


def best_of(fn, path, repeats=3):
    times, n = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn(path)
        times.append(time.perf_counter() - t0)
    return n, min(times)


# --------------------------------------------------------------------------- memory (child)
def mem_child(path):
    """Stream `path` twice (plain, then under tracemalloc); print peaks as JSON."""
    import xarray  # noqa: F401  (imported by the reader anyway; keep it out of the growth)
    from eqt_analysis.io import iter_trajectory  # noqa: F401

    def rss_mb():
        """Peak RSS in MB: VmHWM of this process (Linux), else getrusage's ru_maxrss.

        ru_maxrss is not used on Linux because it keeps, across exec, the RSS the parent
        (this benchmark, with its test data) had when it forked the child.
        """
        try:
            with open("/proc/self/status") as handle:
                return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM")) / 1024
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    try:  # Linux: reset the peak-RSS mark to the current RSS, so the imports' peak drops out
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass  # then the growth is over the peak reached while importing
    rss_imports = rss_mb()
    n = read_eqt(path)
    rss_end = rss_mb()
    tracemalloc.start()
    read_eqt(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"frames": n, "tracemalloc_peak_mb": peak / 2**20,
                      "maxrss_mb": rss_end, "maxrss_growth_mb": rss_end - rss_imports}))


def mem_run(path):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--mem-child", path],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=2000, help="frames for the throughput test")
    parser.add_argument("--atoms", type=int, default=192, help="atoms (a multiple of 3)")
    parser.add_argument("--mem-frames", type=int, default=1000,
                        help="N for the memory test (N vs 10*N frames)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mem-child", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mem_child:
        return mem_child(args.mem_child)
    if args.atoms % 3:
        parser.error("--atoms must be a multiple of 3 (O,H,H molecules)")
    warnings.simplefilter("ignore")  # MDAnalysis notes on the eqt extras; not what we measure

    with tempfile.TemporaryDirectory(prefix="eqt-bench-") as tmp:
        nc, xyz = os.path.join(tmp, "water.nc"), os.path.join(tmp, "water.xyz")
        t0 = time.perf_counter()
        chunks = list(water_chunks(args.frames, args.atoms))
        write_nc(nc, chunks)
        t_nc = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_extxyz(xyz, chunks)
        t_xyz = time.perf_counter() - t0
        del chunks
        mb = lambda p: os.path.getsize(p) / 1e6  # noqa: E731

        print(f"eqt I/O benchmark: {args.frames} frames x {args.atoms} atoms (water-like, "
              f"positions+forces+energy), {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        print(f"  files: water.nc {mb(nc):.1f} MB (generate+write {t_nc:.1f} s), "
              f"water.xyz {mb(xyz):.1f} MB (ase.io.write {t_xyz:.1f} s)")
        print()
        print(f"1. read throughput, positions of every frame, best of {args.repeats}")
        print(f"  {'reader':<46}{'file':<6}{'seconds':>9}{'frames/s':>11}")
        rates = {}
        for key, label, fn, path in (
                ("eqt-nc", "eqt iter_trajectory", read_eqt, nc),
                ("ase-xyz", "ASE ase.io.iread", read_ase, xyz),
                ("mda-nc", "MDAnalysis TRJ.NCDFReader", read_mda, nc),
                ("eqt-xyz", "eqt iter_trajectory (extxyz reader, via ASE)", read_eqt, xyz)):
            n, seconds = best_of(fn, path, args.repeats)
            if n != args.frames:
                raise SystemExit(f"{label} read {n} frames, expected {args.frames}")
            rates[key] = n / seconds
            print(f"  {label:<46}{os.path.splitext(path)[1]:<6}{seconds:>9.3f}{rates[key]:>11.0f}")
        print(f"  ratio eqt-nc / ASE-extxyz        {rates['eqt-nc'] / rates['ase-xyz']:7.1f}x")
        print(f"  ratio eqt-nc / MDAnalysis-NCDF   {rates['eqt-nc'] / rates['mda-nc']:7.2f}x")
        print(f"  ratio eqt-xyz / ASE-extxyz       {rates['eqt-xyz'] / rates['ase-xyz']:7.2f}x")
        print()

        short, long_ = args.mem_frames, 10 * args.mem_frames
        paths = {}
        for n in (short, long_):
            paths[n] = os.path.join(tmp, f"mem{n}.nc")
            write_nc(paths[n], water_chunks(n, args.atoms, seed=1))  # appended chunk by chunk
        print(f"2. memory while streaming iter_trajectory(.nc), chunk_frames={CHUNK}, fresh subprocess each")
        print(f"  {'frames':>7}{'file MB':>9}{'tracemalloc peak MB':>21}{'peak RSS MB':>13}"
              f"{'RSS growth MB':>15}")
        res = {}
        for n in (short, long_):
            r = res[n] = mem_run(paths[n])
            if r["frames"] != n:
                raise SystemExit(f"memory child read {r['frames']} frames, expected {n}")
            print(f"  {n:>7}{mb(paths[n]):>9.1f}{r['tracemalloc_peak_mb']:>21.2f}"
                  f"{r['maxrss_mb']:>13.1f}{r['maxrss_growth_mb']:>15.1f}")
        a, b = res[short], res[long_]
        print(f"  ratio {long_}/{short} frames: tracemalloc peak "
              f"{b['tracemalloc_peak_mb'] / a['tracemalloc_peak_mb']:.2f}x, "
              f"peak RSS {b['maxrss_mb'] / a['maxrss_mb']:.2f}x, "
              f"RSS growth {b['maxrss_growth_mb'] / max(a['maxrss_growth_mb'], 0.1):.2f}x "
              f"(file size {mb(paths[long_]) / mb(paths[short]):.1f}x)")


if __name__ == "__main__":
    main()
