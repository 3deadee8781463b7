"""Time of one energy + forces evaluation of the eqt model (JAX, CPU), compile time apart,
and of a rotationally averaged evaluation (grid 2i, 36 rotations) in one call (eqt_model.averaging.over_rotations,
its default rotations per step) versus the 36 rotations evaluated one call after the other (as i-PI's
sequential averaging does); plain, one-call and sequential timings interleaved, each the best of --repeats.

Systems: the 64-water box (192 atoms) of example_data and a 512-water box (1536 atoms, from
../shared/data/init-512_h2o.xyz when present, else 8 copies of the 64-water box). Presets
'small' and 'paper' with random parameters (the cost does not depend on the values), float32.
metatrain's PET at the same sizes: benchmarks/bench_pet_metatrain.py (a separate PyTorch venv).
'mm GFLOP' counts the matrix products of one evaluation (2 m n k per dot_general of the traced
program, forces included; element-wise work apart), as torch's FlopCounterMode counts PET's, and
'GFLOP/s' divides it by the evaluation time; the first line gives this machine's rate for one plain
float32 matrix product of the model's typical shape, the ceiling of that column.

Run: python benchmarks/bench_model.py [--repeats 5]
"""
import argparse
import functools
import os
import time



def matmul_flops(jaxpr):
    """Floating-point operations (2 m n k each) of the matrix products in a jaxpr, sub-jaxprs included."""
    import numpy as np

    from eqt_model.compiled import equations

    total = 0
    for eqn in equations(jaxpr):
        if eqn.primitive.name == "dot_general":
            (contracting, _), _ = eqn.params["dimension_numbers"]
            k = int(np.prod([eqn.invars[0].aval.shape[i] for i in contracting]))
            total += 2 * int(np.prod(eqn.outvars[0].aval.shape)) * k
    return total


def matmul_rate(m=6400, k=128, n=512, repeats=20):
    """GFLOP/s of one jitted float32 (m, k) @ (k, n) product, best of `repeats`."""
    import jax
    import jax.numpy as jnp

    a, b = jnp.ones((m, k), jnp.float32), jnp.ones((k, n), jnp.float32)
    product = jax.jit(jnp.matmul)
    jax.block_until_ready(product(a, b))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(product(a, b))
        best = min(best, time.perf_counter() - t0)
    return 2 * m * k * n / best / 1e9


@functools.lru_cache(maxsize=None)
def plain_function():
    """One plain evaluation (energy, forces), jitted."""
    from eqt_model import compiled, model

    return compiled.jit(model.energy_and_forces, static_argnums=1)


def systems():
    import ase.io
    from ase import Atoms

    from eqt_analysis import io

    ds = io.open_trajectory("example_data/water64_tip3p.nc").isel(frame=0).load()
    small = Atoms(numbers=ds["atomic_number"].values, positions=ds["positions"].values.astype(float),
                  cell=ds["cell"].values, pbc=True)
    shared = "../shared/data/init-512_h2o.xyz"
    big = ase.io.read(shared) if os.path.exists(shared) else small.repeat((2, 2, 2))
    return {"64 waters (192 atoms)": small, "512 waters (1536 atoms)": big}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import jax

    from eqt_model import model, modelfile
    from eqt_model.calculator import Potential
    from eqt_model.config import preset

    import tempfile
    print(f"eqt model evaluation (energy + forces), {os.cpu_count()} CPUs, jax {jax.__version__} {jax.devices()[0].platform}")
    print(f"  float32 matrix product (6400, 128) @ (128, 512): {matmul_rate():.0f} GFLOP/s")
    print(f"  {'preset':<7} {'system':<26} {'blocks':>6} {'compile s':>10} {'eval ms':>10} {'us/atom':>9} {'mm GFLOP':>9}"
          f" {'GFLOP/s':>8}")
    averaged = {}
    for name in ("small", "paper"):
        config = preset(name, [1, 8])
        params = model.init(jax.random.PRNGKey(0), config)
        with tempfile.TemporaryDirectory() as tmp:
            modelfile.save(os.path.join(tmp, "m.pkl"), config, params)
            for label, atoms in systems().items():
                pot = Potential(os.path.join(tmp, "m.pkl"))
                graph = pot.graph(atoms.positions, atoms.cell.array, atoms.numbers, atoms.pbc)[0]
                t0 = time.perf_counter()
                jax.block_until_ready(plain_function()(pot.params, pot.config, graph))
                compile_s = time.perf_counter() - t0
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    jax.block_until_ready(plain_function()(pot.params, pot.config, graph))
                    times.append(time.perf_counter() - t0)
                best = min(times)
                traced = jax.make_jaxpr(lambda p, g: model.energy_and_forces(p, pot.config, g))(pot.params, graph)
                gflop = matmul_flops(traced.jaxpr) / 1e9
                print(f"  {name:<7} {label:<26} {len(graph.mask):6d} {compile_s:10.2f} {best * 1e3:10.1f}"
                      f" {best / len(atoms) * 1e6:9.1f}"
                      f" {gflop:9.2f} {gflop / best:8.1f}")
                if name == "small":
                    averaged[label] = time_averaged(pot, graph, args.repeats)
    print("\n  rotational average over grid 2i (36 rotations), small preset")
    print(f"  {'system':<26} {'plain ms':>9} {'one call ms':>11} {'ratio':>7} {'sequential ms':>14} {'ratio':>7}")
    for label, (plain, one_call, sequential) in averaged.items():
        print(f"  {label:<26} {plain * 1e3:9.1f} {one_call * 1e3:11.1f} {one_call / plain:7.1f} "
              f"{sequential * 1e3:14.1f} {sequential / plain:7.1f}")


def time_averaged(pot, graph, repeats):
    """(plain, one call, sequential) seconds, best of `repeats` rounds of the three in turn: one plain
    evaluation and the 36-rotation average of one structure."""
    import jax
    import jax.numpy as jnp

    from eqt_model import averaging, rotations

    rots = rotations.grid("2i").rotations
    rotated = [graph._replace(positions=graph.positions @ r.T, cell=graph.cell @ r.T)
               for r in jnp.asarray(rots, dtype=graph.positions.dtype)]

    def plain():
        jax.block_until_ready(plain_function()(pot.params, pot.config, graph))

    def one_call():
        averaging.over_rotations(pot.params, pot.config, graph, rots)

    def sequential():
        for g in rotated:
            jax.block_until_ready(plain_function()(pot.params, pot.config, g))

    one_call()  # compile
    times = {f: [] for f in (plain, one_call, sequential)}
    for _ in range(repeats):
        for f, t in times.items():
            t0 = time.perf_counter()
            f()
            t.append(time.perf_counter() - t0)
    return tuple(min(t) for t in times.values())


if __name__ == "__main__":
    main()
