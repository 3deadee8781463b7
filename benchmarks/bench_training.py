"""Training throughput of eqt-train's optimizer steps (structures per second), side by side in one run:

  before: every batch padded to the neighbour slots of the whole dataset, structures batched in
          shuffled order (eqt 18d646e and earlier);
  after:  batches trimmed to the slots their structures need (data.trim, training.batch_arrays), with
          structures of similar slots batched together (training.batches).

Same data, model, batch size and steps (training.train_step: loss, forces, gradients, Adam update)
for both: the small preset at cutoff 4 Å, float32, batch 2, on the first --structures structures of
../shared/data/water_test.xyz (192 atoms each; the example model's training data), one epoch's
steps; the first pass compiles every batch shape and is not timed; then --repeats passes of each,
interleaved, and the best pass counts. Validation and the symmetry monitor are not part of it.

Run: python benchmarks/bench_training.py [--structures 40] [--repeats 3]
"""
import argparse
import os
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default="../shared/data/water_test.xyz")
    args = parser.parse_args()
    if not os.path.exists(args.data):
        raise SystemExit(f"{args.data} not found (the shared reference data)")
    import jax
    import jax.numpy as jnp
    import numpy as np

    from eqt_model import data as datamod
    from eqt_model import model, training
    from eqt_model.config import preset

    frames, energies, forces = datamod.read(args.data)
    frames, energies, forces = frames[:args.structures], energies[:args.structures], forces[:args.structures]
    config = preset("small", sorted({int(z) for a in frames for z in a.numbers}), cutoff=4.0)
    ds = datamod.build(frames, energies, forces, config.species, config.cutoff)
    params = model.init(jax.random.PRNGKey(0), config)
    reference, scale = training.fit_output(ds, len(config.species))
    params["output"] = {"scale": jnp.asarray(scale), "reference": jnp.asarray(reference)}
    norms = jnp.asarray(training.initial_norms(ds, len(config.species)), jnp.float32)
    optimizer = training.make_optimizer(1e-3, 1000, 10)
    b = args.batch_size
    rng = np.random.default_rng(0)
    order = rng.permutation(len(frames))
    shuffled = [order[i:i + b] for i in range(0, len(order) - b + 1, b)]
    sorted_steps = training.batches(order, datamod.slots_needed(ds), b, rng)[:len(shuffled)]

    def padded(idx):
        part = datamod.subset(ds, idx)
        return (training.graphs(part), jnp.asarray(part.atom_mask), jnp.asarray(part.energy, jnp.float32),
                jnp.asarray(part.forces, jnp.float32), jnp.asarray(part.n_atoms, jnp.float32))

    def prepare(batches):
        """(compile seconds, shapes, a function that runs the steps once and returns its seconds)."""
        state = optimizer.init(params)
        key = jax.random.PRNGKey(1)
        t0, seen = time.perf_counter(), set()
        for batch in batches:
            if batch[0].mask.shape not in seen:
                seen.add(batch[0].mask.shape)
                jax.block_until_ready(training.train_step(params, config, optimizer, state, key, batch, 0.01, norms,
                                                          False, True))
        compile_s = time.perf_counter() - t0

        def once():
            p, s = params, state
            t0 = time.perf_counter()
            for batch in batches:
                p, s, loss, _ = training.train_step(p, config, optimizer, s, key, batch, 0.01, norms, False, True)
                float(loss)  # as fit does: the host waits for every step
            return time.perf_counter() - t0
        return compile_s, len(seen), once

    variants = {"before: full slots, shuffled": prepare([padded(i) for i in shuffled]),
                "after: trimmed, slot-sorted": prepare([training.batch_arrays(ds, i, jnp.float32) for i in sorted_steps])}
    times = {name: [] for name in variants}
    for _ in range(args.repeats):  # interleaved: a slow moment of the machine hits both alike
        for name, (_, _, once) in variants.items():
            times[name].append(once())
    print(f"eqt-train steps: {len(shuffled)} steps of {b} structures of {ds.n_atoms.max()} atoms, small preset, "
          f"float32; {os.cpu_count()} CPUs, jax {jax.__version__}; best of {args.repeats} interleaved passes")
    print(f"  neighbour slots: dataset {ds.neighbors.mask.shape[2]}, needed per structure "
          f"{np.mean(datamod.slots_needed(ds)):.1f} on average")
    rates = {name: len(shuffled) * b / min(t) for name, t in times.items()}
    first = next(iter(rates.values()))
    for name, (compile_s, shapes, _) in variants.items():
        print(f"  {name:<30} {rates[name]:6.2f} structures/s ({rates[name] / first:.2f}x)   "
              f"compile {compile_s:5.1f} s ({shapes} batch shapes)")


if __name__ == "__main__":
    main()
