"""MSD speed and memory: eqt against MDAnalysis EinsteinMSD(fft=True), side by side in one run.

A seeded random walk of 512 "oxygens" (diffusion 0.2 Å^2/ps, 5000 frames every 10 fs, cubic
24.86 Å box, wrapped) is written once as an eqt .nc file. Then:

1. The FFT MSD itself on the same in-memory unwrapped positions (like for like), and the whole
   eqt `diffusion.MSD` on the lazily opened .nc (atoms in chunks fitting eqt-msd's default
   --memory of 1024 MB, unwrapping, FFT MSD,
   errors at every lag from 5, 3 and 2 blocks, D) versus MDAnalysis `EinsteinMSD(fft=True)` on the same unwrapped
   positions held in a MemoryReader (MDAnalysis needs unwrapped input; eqt does its own
   unwrapping inside the timing). Both curves are compared.
2. Peak memory (VmHWM of a fresh subprocess) of `eqt-msd --memory 64` (MB) on 1000 and 5000
   frames: memory follows the atom chunk, not the whole trajectory.

Run: python benchmarks/bench_dynamics.py [--frames 5000] [--atoms 512] [--repeats 3] (every timing: the best of the repeats)
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def make_trajectory(path, n_frames, n_atoms, seed=0):
    from eqt_analysis import trajectory
    from eqt_analysis.io.netcdf import NetCDFWriter

    rng = np.random.default_rng(seed)
    box = 24.86
    positions = rng.random((n_atoms, 3)) * box
    dt = 0.01
    with NetCDFWriter(path, float64=True) as writer:
        for lo in range(0, n_frames, 500):
            n = min(500, n_frames - lo)
            steps = rng.normal(scale=np.sqrt(2 * 0.2 * dt), size=(n, n_atoms, 3))
            walk = positions + np.cumsum(steps, axis=0)
            positions = walk[-1]
            chunk = trajectory.build(walk % box, np.full(n_atoms, 8), cell=np.broadcast_to(np.eye(3) * box, (n, 3, 3)),
                                     time=(lo + np.arange(n)) * dt)
            writer.write(chunk)


def best_of(repeats, run):
    """(shortest wall time in s over `repeats` calls, the last result)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    return min(times), result


def peak_rss_mb(args):
    """Peak resident memory (MB) of a fresh `python -c` running eqt-msd's main with args."""
    code = ("import sys; from eqt_cli.msd import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--atoms", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3, help="each timing is the best of this many runs")
    args = parser.parse_args()
    import MDAnalysis as mda
    from MDAnalysis.analysis.msd import EinsteinMSD
    from MDAnalysis.coordinates.memory import MemoryReader

    from eqt_analysis import diffusion, io, timeseries
    from eqt_analysis.system import System
    from eqt_cli.common import atoms_per_chunk

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "walk.nc")
        make_trajectory(path, args.frames, args.atoms)
        ds = io.open_trajectory(path)
        atoms = np.arange(args.atoms)
        system = System.from_dataset(ds)
        diffusion.MSD(system, {"O": atoms[:4]}, remove_drift=False).compute(ds.isel(frame=slice(0, 50)))  # compile
        chunk = atoms_per_chunk(args.frames, 1024)  # eqt-msd's default --memory 1024 MB
        msd = diffusion.MSD(system, {"O": atoms}, remove_drift=False, n_blocks=5, chunk=chunk)
        t_eqt, result = best_of(args.repeats, lambda: msd.compute(ds))
        ours = result["msd"].sel(group="O").values

        unwrapped = diffusion.unwrap(ds["positions"].values, ds["cell"].values)
        u = mda.Universe.empty(args.atoms, trajectory=True)
        u.load_new(unwrapped.astype(np.float32), format=MemoryReader, dt=0.01)
        t_mda, ref = best_of(args.repeats, lambda: EinsteinMSD(u, select="all", msd_type="xyz", fft=True).run()
                             .results.timeseries)
        rel = np.max(np.abs(ours[1:] - ref[1:]) / ref[1:])
        same_input = unwrapped.astype(np.float32).astype(float)
        t_core, core = best_of(args.repeats, lambda: timeseries.msd_fft(same_input) / same_input.shape[1])
        rel_core = np.max(np.abs(core[1:] - ref[1:]) / ref[1:])

        short = os.path.join(tmp, "short.nc")
        make_trajectory(short, args.frames // 5, args.atoms)
        rss = [peak_rss_mb([p, "-q", "--memory", "64", "--blocks", "5", "-o", os.path.join(tmp, "m.nc")])
               for p in (short, path)]

    print(f"eqt MSD benchmark: {args.atoms} atoms x {args.frames} frames, {os.cpu_count()} CPUs, "
          f"best of {args.repeats} runs each")
    print(f"  MDAnalysis EinsteinMSD(fft=True) (in memory, unwrapped)   {t_mda:8.3f} s")
    print(f"  eqt timeseries.msd_fft, same in-memory positions        {t_core:8.3f} s   "
          f"ratio MDAnalysis / eqt {t_mda / t_core:.2f}x (target >= 1x), max rel. diff {rel_core:.1e}")
    print(f"  eqt diffusion.MSD (.nc read + unwrap + FFT + blocks, D)  {t_eqt:8.3f} s   "
          f"ratio MDAnalysis / eqt {t_mda / t_eqt:.2f}x, max rel. diff {rel:.1e} (float32 input to MDAnalysis)")
    print(f"  peak RSS of eqt-msd --memory 64: {args.frames // 5} frames {rss[0]:.0f} MB, "
          f"{args.frames} frames {rss[1]:.0f} MB (ratio {rss[1] / rss[0]:.2f}x for 5x the frames; "
          f"positions alone would be {args.frames * args.atoms * 24 / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
