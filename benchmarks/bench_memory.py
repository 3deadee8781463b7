"""Memory of the model commands against --memory (issue 11, part 5), in fresh subprocesses.

Structures: two 192-atom water boxes, the first two frames of ../shared/data/water_test.xyz
(revPBE0-D3 water), else two frames of example_data/water64_tip3p.nc; model: example_data/model-small.pkl.

1. Calibration of eqt_model.averaging.per_call: in a fresh process per point, the peak-RSS
   increase (VmHWM) of one compiled, vmapped call of k rotations (after compiling), float64,
   beside per_call's estimate of the work space per rotation.
2. Peak RSS (VmHWM of a fresh `python -c` running the command's main) of eqt-rotvar on the two
   structures at --memory 256, 1024 (default) and 4096, with the rotations per call; and of
   eqt-eval --average 3i at the default. The peak is set by the largest batched call, so
   eqt-rotvar runs with --grids 1,i,2 --n-random 8 (every chunk size of the full run; --full:
   the default grids 1,i,2,2i,3,3i and 16 random rotations, about 4 min per run).

Run: python benchmarks/bench_memory.py [--full]   (about 5 min on 2 cores)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

MODEL = "example_data/model-small.pkl"
SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "water_test.xyz")

CALIBRATE = """
import json, sys
import ase.io, jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
from eqt_model import averaging, rotations
from eqt_model.calculator import Potential
def hwm():
    return int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024
k = int(sys.argv[2])
pot = Potential(sys.argv[3])
a = ase.io.read(sys.argv[1], 0)
g = pot.graph(a.positions, a.cell.array, a.numbers, a.pbc)[0]
rots = jnp.asarray(rotations.random_rotations(jax.random.PRNGKey(0), k))
compiled = averaging._batch.lower(pot.params, pot.config, g, rots, k).compile()  # k rotations at once
before = hwm()
jax.block_until_ready(compiled(pot.params, g, rots))
print(json.dumps({"k": k, "work_mb": hwm() - before}))
"""

PEAK = """
import sys
from eqt_cli.{module} import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    if exit.code:
        raise
print([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
"""


def structures(path):
    """Write two 192-atom water boxes to path (extxyz); returns their source."""
    import ase.io

    if os.path.exists(SHARED):
        ase.io.write(path, ase.io.read(SHARED, ":2"), format="extxyz")
        return "../shared/data/water_test.xyz, frames 0-1"
    from eqt_analysis import io
    from eqt_analysis.io.xyz import dataset_to_atoms

    ds = io.open_trajectory("example_data/water64_tip3p.nc").isel(frame=[0, -1]).load()
    ase.io.write(path, dataset_to_atoms(ds), format="extxyz")
    return "example_data/water64_tip3p.nc, first and last frame"


def peak_mb(module, args):
    out = subprocess.run([sys.executable, "-c", PEAK.format(module=module), *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{module} {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="eqt-rotvar with its default grids (slow)")
    args = parser.parse_args()
    import jax

    jax.config.update("jax_enable_x64", True)
    import ase.io

    from eqt_model import averaging
    from eqt_model.calculator import Potential

    with tempfile.TemporaryDirectory() as tmp:
        two = os.path.join(tmp, "two.xyz")
        print(f"structures: {structures(two)}; model {MODEL}")
        pot = Potential(MODEL)
        a = ase.io.read(two, 0)
        g = pot.graph(a.positions, a.cell.array, a.numbers, a.pbc)[0]
        n, slots = len(a), max(m.shape[1] for m in g.mask)  # as averaging.rotations_per_call counts blocks
        estimate = 1e6 / averaging.per_call(1e6, pot.config, n, slots, 8)  # MB per rotation (to 0.1 %)
        print(f"\n1. work space of one batched call (float64, {n} atoms in blocks of up to {slots} neighbour slots), fresh process each")
        print(f"   {'rotations':>9} {'peak RSS increase MB':>21} {'per rotation MB':>16} {'per_call estimate MB':>21}")
        for k in (1, 2, 4, 8):
            out = subprocess.run([sys.executable, "-c", CALIBRATE, two, str(k), MODEL], capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr[-2000:])
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"   {k:9d} {r['work_mb']:21.0f} {r['work_mb'] / k:16.1f} {estimate:21.1f}")
        grids = [] if args.full else ["--grids", "1,i,2", "--n-random", "8"]
        print(f"\n2. peak RSS (VmHWM) of eqt-rotvar {MODEL} two.xyz {' '.join(grids)}")
        print(f"   {'--memory MB':>11} {'rotations per call':>19} {'peak RSS MB':>12}")
        for memory in (256, 1024, 4096):
            per = averaging.rotations_per_call(g, pot.config, memory)
            rss = peak_mb("rotvar", [MODEL, two, "-q", "--memory", str(memory), "-o", os.path.join(tmp, "r.nc"), *grids])
            print(f"   {memory:11d} {per:19d} {rss:12.0f}" + ("   (default)" if memory == averaging.DEFAULT_MEMORY_MB else ""))
        rss = peak_mb("eval", [MODEL, two, "--average", "3i", "-o", os.path.join(tmp, "e.nc")])
        print(f"\n   eqt-eval --average 3i (float32, default --memory {averaging.DEFAULT_MEMORY_MB}): peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
