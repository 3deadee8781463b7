"""Scale: a long trajectory and a model evaluation, serial against --workers 2 (dask.distributed).

1. A generated trajectory of the 64-water box (192 atoms; the example file's frames repeated
   with seeded thermal noise, float32, 10 fs apart) of --frames frames (default 100 000, and a
   fifth of it for the memory ratio) is written once as an eqt .nc file. Then, each as a fresh
   command: `eqt-rdf --pairs O-O` and `eqt-msd --species O`, serial and with `--workers 2`: wall
   time and the peak resident memory of the largest process (the command or one of its workers:
   getrusage(RUSAGE_CHILDREN).ru_maxrss of a fresh subprocess), for both lengths.
2. `eqt-eval example_data/model-small.pkl ../shared/data/water_test.xyz` (all 190 structures, float64)
   serial and with `--workers 2`, and the largest difference between the two.

Needs pip install -e '.[dask]'. Run: python benchmarks/bench_parallel.py [--frames 100000]
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example_data" / "water64_tip3p.nc"
TEST_SET = ROOT.parent / "shared" / "data" / "water_test.xyz"


def make_trajectory(path, n_frames, seed=0):
    """n_frames frames of the example box: its frames in turn plus 0.05 Å of seeded noise."""
    from eqt_analysis import io, trajectory

    base = io.open_trajectory(EXAMPLE).load()
    positions, numbers = base["positions"].values, base["atomic_number"].values
    cell = base["cell"].values[0]
    rng = np.random.default_rng(seed)
    with io.open_writer(str(path), "netcdf") as writer:
        for lo in range(0, n_frames, 1000):
            n = min(1000, n_frames - lo)
            frames = positions[np.arange(lo, lo + n) % len(positions)] + rng.normal(scale=0.05, size=(n, 192, 3))
            writer.write(trajectory.build(frames, numbers, cell=np.broadcast_to(cell, (n, 3, 3)),
                                          time=(lo + np.arange(n)) * 0.01, masses=base["mass"].values,
                                          molecule=base["molecule"].values))


def timed(args):
    """(wall s, peak RSS MB of the largest process) of a fresh eqt command."""
    script = ("import resource, subprocess, sys, time\n"
              "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
              "if r.returncode: sys.exit(r.stderr)\n"
              "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{' '.join(map(str, args))} failed: {out.stderr}")
    wall, rss = out.stdout.split()
    return float(wall), int(rss) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    args = parser.parse_args()
    import dask
    import distributed

    bindir = Path(sys.executable).parent
    print(f"eqt scale benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, dask {dask.__version__}, "
          f"distributed {distributed.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        sizes = (args.frames // 5, args.frames)
        files = {}
        for n in sizes:
            files[n] = Path(tmp) / f"long{n}.nc"
            t0 = time.perf_counter()
            make_trajectory(files[n], n)
            print(f"  {n} frames x 192 atoms: {files[n].stat().st_size / 2**20:.0f} MB written in "
                  f"{time.perf_counter() - t0:.1f} s")
        print("\n1. long trajectory, serial vs --workers 2 (fresh commands; peak RSS of the largest process)")
        print(f"  {'command':<34}{'frames':>8}{'serial s':>10}{'2 workers s':>13}{'speed-up':>10}"
              f"{'serial MB':>11}{'workers MB':>12}")
        summary = []
        for name, extra in (("eqt-rdf --pairs O-O", ["--pairs", "O-O"]), ("eqt-msd --species O", ["--species", "O"])):
            command = name.split()[0]
            peaks = {}
            for n in sizes:
                base = [bindir / command, files[n], *extra, "-q"]
                serial = timed([*base, "-o", Path(tmp) / "serial.nc"])
                spread = timed([*base, "--workers", 2, "-o", Path(tmp) / "spread.nc"])
                peaks[n] = (serial[1], spread[1])
                print(f"  {name:<34}{n:>8}{serial[0]:>10.1f}{spread[0]:>13.1f}{serial[0] / spread[0]:>9.2f}x"
                      f"{serial[1]:>11.0f}{spread[1]:>12.0f}")
            summary.append((name, serial[0] / spread[0], peaks[sizes[1]][0] / peaks[sizes[0]][0],
                            peaks[sizes[1]][1] / peaks[sizes[0]][1]))
        if TEST_SET.exists():
            print(f"\n2. eqt-eval example_data/model-small.pkl {TEST_SET.name} (190 structures, float64)")
            base = [bindir / "eqt-eval", ROOT / "example_data" / "model-small.pkl", TEST_SET, "--float64", "-q"]
            serial = timed([*base, "-o", Path(tmp) / "e1.nc"])
            spread = timed([*base, "--workers", 2, "-o", Path(tmp) / "e2.nc"])
            import xarray as xr

            a, b = xr.open_dataset(Path(tmp) / "e1.nc"), xr.open_dataset(Path(tmp) / "e2.nc")
            diff = max(float(np.nanmax(np.abs(a[v].values - b[v].values))) for v in a.data_vars
                       if a[v].dtype.kind == "f")
            print(f"  serial {serial[0]:.1f} s, 2 workers {spread[0]:.1f} s: speed-up {serial[0] / spread[0]:.2f}x; "
                  f"largest difference {diff:.3g}")
            summary.append(("eqt-eval, 190 structures", serial[0] / spread[0], float("nan"), float("nan")))
        print("\nSummary (speed-up with 2 local workers; peak RSS at 5x the frames over 1x)")
        for name, speed, mem_serial, mem_workers in summary:
            print(f"  {name:<28} speed-up {speed:5.2f}x   RSS ratio serial {mem_serial:5.2f}x, workers {mem_workers:5.2f}x")


if __name__ == "__main__":
    main()
