"""Training speed of eqt-train, this checkout against an earlier commit, side by side in one run.

Both run `training.fit` (the same call in both versions: optimizer steps with a fresh rotation of
every structure, then validation and the symmetry monitor every epoch) on the example model's data
and split (../shared/data/water_test.xyz, seed 0: 153 training structures of 192 atoms, 17
validation), starting from example_data/model-small.pkl's parameters, batch 2, float32, in separate
processes (one after the other; --repeats alternates them). The first epoch compiles and is not
counted: the rate is 153 structures / the median time of the later epochs (a later epoch still compiles the
batch shapes it meets first); the total of all epochs, compilations included, is printed too.

The baseline is a `git worktree` of --baseline (default 18d646e, before issue 15's training work)
under the system's temporary folder.

Run: python benchmarks/bench_training.py [--epochs 3] [--repeats 1] [--baseline 18d646e]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "water_test.xyz")

CHILD = r"""
import json, sys, time
import jax, jax.numpy as jnp, numpy as np
from eqt_model import data as datamod, modelfile, training
data, model_file, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
frames, energies, forces = datamod.read(data)
config, params, _ = modelfile.load(model_file)
params = jax.tree_util.tree_map(jnp.asarray, params)
ds = datamod.build(frames, energies, forces, config.species, config.cutoff)
train_idx, val_idx, _ = training.split(len(frames), 20, 0.1, 0)
train, val = datamod.subset(ds, train_idx), datamod.subset(ds, val_idx)
marks = [time.perf_counter()]
training.fit(params, config, train, val, epochs, 2, 1e-3, on_epoch=lambda *a: marks.append(time.perf_counter()))
print(json.dumps({"epochs_s": list(np.diff(marks)), "structures": len(train_idx), "jax": jax.__version__}))
"""


def worktree(commit):
    path = os.path.join(tempfile.gettempdir(), f"eqt-baseline-{commit}")
    if not os.path.isdir(path):
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", path, commit], check=True,
                       capture_output=True)
    return path


def epoch_times(tree, epochs):
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", CHILD, DATA, os.path.join(ROOT, "example_data", "model-small.pkl"),
                          str(epochs)], cwd=tree, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--baseline", default="18d646e")
    args = parser.parse_args()
    if not os.path.exists(DATA):
        raise SystemExit(f"{DATA} not found (the shared reference data)")
    trees = {f"baseline {args.baseline}": worktree(args.baseline), "this checkout": ROOT}
    later = {name: [] for name in trees}
    total = {name: 0.0 for name in trees}
    for _ in range(args.repeats):
        for name, tree in trees.items():
            result = epoch_times(tree, args.epochs)
            later[name] += result["epochs_s"][1:]
            total[name] += sum(result["epochs_s"])
            print(f"  {name:<20} epochs {', '.join(f'{t:.1f}' for t in result['epochs_s'])} s", flush=True)
    import numpy as np

    n = result["structures"]
    print(f"eqt-train epochs of {n} structures (batch 2, float32, validation and monitor included), "
          f"{os.cpu_count()} CPUs, jax {result['jax']}; median of the epochs after the first:")
    rates = {name: n / float(np.median(t)) for name, t in later.items()}
    base = rates[f"baseline {args.baseline}"]
    for name, rate in rates.items():
        print(f"  {name:<20} {n / rate:6.1f} s per epoch  {rate:5.2f} structures/s  ({rate / base:.2f}x)")
    print(f"all {args.epochs} epochs, compilations included (a batch compiles once per shape):")
    for name, t in total.items():
        print(f"  {name:<20} {t / args.repeats:6.1f} s  ({total[f'baseline {args.baseline}'] / t:.2f}x)")


if __name__ == "__main__":
    main()
