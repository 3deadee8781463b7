"""MD speed: eqt's jitted engine (eqt_model.simulation, as eqt-md runs it) against ASE's VelocityVerlet driving
EQTCalculator, on the example model and the 64-water box (192 atoms); the cost of multiple time stepping
(grid 2i every 10th step) and of a random rotation per step relative to a plain step; ns/day at 0.5 fs for 64
and 512 waters (the 512-water box from ../shared/data/init-512_h2o.xyz when present, else 8 copies of the
64-water box). NVE, float32, compile time apart (a warm-up block first), one run each.

Run: python benchmarks/bench_md.py [--steps 200] [--ase-steps 50]
"""
import argparse
import os
import time

import numpy as np

from bench_model import systems  # the 64- and 512-water boxes

MODEL = "example_data/model-small.pkl"


def engine_ms_per_step(atoms, steps, **settings):
    """ms per 0.5 fs inner step of the jitted engine in steady state: the median over blocks of 10 outer steps,
    after a warm-up block that compiles it (a block in which a neighbour list grew, and so recompiled, is
    an outlier the median leaves out; their cost is counted apart by eqt-md's ns/day)."""
    import jax

    from eqt_model import modelfile, simulation

    s = simulation.Settings(**settings)
    config, params, _ = modelfile.load(MODEL)
    params = jax.tree_util.tree_map(jax.numpy.asarray, params)
    cell, pbc = atoms.cell.array, atoms.pbc
    potentials = simulation.model_potentials(params, config, atoms.numbers, atoms.positions, cell, pbc, s)
    run = simulation.Run(s, potentials, atoms.numbers, atoms.get_masses(), atoms.positions, cell, pbc)
    block = 10 * s.mts
    for _ in run.frames(block, block):  # compile
        pass
    times = []
    for _ in range(max(3, steps // block)):
        start, first = time.perf_counter(), int(run.state.step)
        for _ in run.frames(first + block, block):
            pass
        times.append((time.perf_counter() - start) / block * 1e3)
    return float(np.median(times))


def ase_ms_per_step(atoms, steps):
    """ms per 0.5 fs step of ASE's VelocityVerlet with EQTCalculator (the model jitted per call)."""
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    from eqt_model.calculator import EQTCalculator

    atoms = atoms.copy()
    atoms.calc = EQTCalculator(MODEL)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, 0.5 * units.fs)
    dyn.run(5)  # compile
    start = time.perf_counter()
    dyn.run(steps)
    return (time.perf_counter() - start) / steps * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--ase-steps", type=int, default=50)
    args = parser.parse_args()
    import jax

    print(f"eqt MD benchmark: example model, float32, {os.cpu_count()} CPUs, jax {jax.__version__} "
          f"{jax.devices()[0].platform}")
    boxes = list(systems().values())
    small = boxes[0]
    rows = {}
    rows["eqt engine, plain"] = engine_ms_per_step(small, args.steps)
    rows["ASE VelocityVerlet + EQTCalculator"] = ase_ms_per_step(small, args.ase_steps)
    rows["eqt engine, MTS grid 2i every 10th step"] = engine_ms_per_step(small, args.steps,
                                                                        average="2i", mts=10)
    rows["eqt engine, random rotation every step"] = engine_ms_per_step(small, args.steps, random_rotation=True)
    big = engine_ms_per_step(boxes[1], max(20, args.steps // 8))
    plain = rows["eqt engine, plain"]
    print("\n64 waters (192 atoms), NVE, 0.5 fs")
    print(f"  {'method':<42} {'ms/step':>9} {'ns/day':>8} {'vs eqt plain':>13}")
    for name, ms in rows.items():
        print(f"  {name:<42} {ms:9.1f} {0.5e-6 * 86400e3 / ms:8.3f} {ms / plain:12.2f}x")
    print(f"\n512 waters (1536 atoms): eqt engine, plain: {big:.1f} ms/step, {0.5e-6 * 86400e3 / big:.3f} ns/day")
    print("\nSummary")
    print(f"  ASE VelocityVerlet+EQTCalculator / eqt engine: {rows['ASE VelocityVerlet + EQTCalculator'] / plain:.2f}x "
          "(target >= 5x)")
    print(f"  MTS 2i k=10 step / plain step: {rows['eqt engine, MTS grid 2i every 10th step'] / plain:.2f}x (target <= 5x)")
    print(f"  random-rotation step / plain step: {rows['eqt engine, random rotation every step'] / plain:.2f}x")


if __name__ == "__main__":
    main()
