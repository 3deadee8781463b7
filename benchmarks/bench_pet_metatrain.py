"""Time of one energy + forces evaluation of metatrain's PET (PyTorch, CPU, float32, random
weights), at the sizes of eqt's 'small' and 'paper' presets, for comparison with
benchmarks/bench_model.py (same systems, same table; first call apart from the best of the
steady-state calls). Forces are -dE/dx by torch.autograd.grad, as metatomic computes them; the
neighbour list is built once, outside the timing (as bench_model.py times eqt's jitted function
without its neighbour search). The model is the eager nn.Module in eval mode (what metatrain's
export wraps for TorchScript): its first call has no compilation, only allocator and one-off
set-up costs.

eqt preset -> PET hyper-parameters (metatrain.pet.documentation.ModelHypers):
    d_model                -> d_pet = d_node = d_head  (edge tokens, central token, head width)
    n_message_layers       -> num_gnn_layers
    n_transformer_layers   -> num_attention_layers
    n_heads                -> num_heads
    d_feedforward          -> d_feedforward, with activation "SiLU" (the default SwiGLU doubles
                              the first feed-forward matrix)
    cutoff 4.0, width 0.2  -> cutoff 4.0, cutoff_width 0.2, cutoff_function "Cosine" (same
                              switch as eqt's)
    LayerNorm, pre-LN      -> normalization "LayerNorm", transformer_type "PreLN"
    a readout per layer    -> featurizer_type "residual" (the original PET's per-layer heads)
Approximate: PET's heads have two hidden layers of d_head (eqt's: one of d_model), its edge tokens
go through a 'compress' MLP (2 or 3 d_pet -> d_pet -> d_pet) where eqt has a geometry MLP plus one
dense layer for the reversed edge, and its attention masks by log(cutoff) in the scores where
eqt multiplies the weights. Parameters: small 33.5k (eqt 28.4k), paper 2.10M (eqt 1.92M). PET
pads each atom's tokens to the largest neighbour count (37 in the 64-water frame); eqt sorts the atoms by
neighbour count into blocks, each padded to the fewest slots that make its token count a multiple of 4.

Environment (kept apart from the project venv; torch 2.13.0+cpu is a local wheel here):
    python3 -m venv /tmp/mtt-venv
    /tmp/mtt-venv/bin/pip install torch==2.13.0
    /tmp/mtt-venv/bin/pip install metatrain ase
'mm GFLOP' is torch.utils.flop_counter.FlopCounterMode's count of the matrix products of one
energy + forces evaluation (element-wise work apart), as bench_model.py counts eqt's; the first
line gives torch's rate for one plain float32 matrix product of the model's typical shape.
Run (from the repository root): /tmp/mtt-venv/bin/python benchmarks/bench_pet_metatrain.py
[--repeats 5] [--threads 2]. torch's OpenMP threads wait by spinning: with another process busy
on this 2-core machine, 2 threads ran 15-25x slower than 1 (small preset, 192 atoms: 1.5-1.9 s
against 70 ms), so give --threads the number of idle cores.
"""
import argparse
import copy
import os
import time

PRESETS = {
    "small": dict(d_pet=32, d_node=32, d_head=32, num_gnn_layers=2, num_attention_layers=1,
                  num_heads=4, d_feedforward=64),
    "paper": dict(d_pet=128, d_node=128, d_head=128, num_gnn_layers=4, num_attention_layers=2,
                  num_heads=4, d_feedforward=512),
}
COMMON = dict(cutoff=4.0, cutoff_width=0.2, cutoff_function="Cosine", activation="SiLU",
              normalization="LayerNorm", transformer_type="PreLN", featurizer_type="residual")


def systems():
    import ase.io
    from ase import Atoms
    from scipy.io import netcdf_file

    with netcdf_file("example_data/water64_tip3p.nc", mmap=False) as nc:
        small = Atoms(numbers=nc.variables["atomic_number"][:], positions=nc.variables["coordinates"][0],
                      cell=nc.variables["cell"][0], pbc=True)
    shared = "../shared/data/init-512_h2o.xyz"
    big = ase.io.read(shared) if os.path.exists(shared) else small.repeat((2, 2, 2))
    return {"64 waters (192 atoms)": small, "512 waters (1536 atoms)": big}


def build(name):
    from metatrain.pet import PET
    from metatrain.utils.architectures import get_default_hypers
    from metatrain.utils.data import DatasetInfo
    from metatrain.utils.data.target_info import get_energy_target_info

    hypers = copy.deepcopy(get_default_hypers("pet")["model"])
    hypers.update(COMMON, **PRESETS[name])
    info = DatasetInfo(length_unit="Angstrom", atomic_types=[1, 8],
                       targets={"energy": get_energy_target_info("energy", {"quantity": "energy", "unit": "eV"})})
    return PET(hypers, info).eval()


def matmul_rate(m=6400, k=128, n=512, repeats=20):
    """GFLOP/s of one float32 (m, k) @ (k, n) product in torch, best of `repeats`."""
    import torch

    a, b = torch.ones(m, k), torch.ones(k, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * m * k * n / best / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()
    import metatrain
    import torch
    from metatomic.torch import ModelOutput, System
    from metatrain.utils.neighbor_lists import get_system_with_neighbor_lists

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    outputs = {"energy": ModelOutput(sample_kind="system")}
    print(f"metatrain PET evaluation (energy + forces), {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, metatrain {metatrain.__version__}")
    from torch.utils.flop_counter import FlopCounterMode

    print(f"  float32 matrix product (6400, 128) @ (128, 512): {matmul_rate():.0f} GFLOP/s")
    print(f"  {'preset':<7} {'system':<26} {'first s':>10} {'eval ms':>10} {'us/atom':>9} {'mm GFLOP':>9} {'GFLOP/s':>8}")
    for name in PRESETS:
        model = build(name)
        for label, atoms in systems().items():
            positions = torch.tensor(atoms.positions, dtype=torch.float32, requires_grad=True)
            system = System(types=torch.tensor(atoms.numbers), positions=positions,
                            cell=torch.tensor(atoms.cell.array, dtype=torch.float32),
                            pbc=torch.tensor(atoms.pbc))
            system = get_system_with_neighbor_lists(system, model.requested_neighbor_lists())

            def energy_and_forces():
                energy = model([system], outputs)["energy"].block().values.sum()
                return energy, -torch.autograd.grad(energy, positions)[0]

            t0 = time.perf_counter()
            energy_and_forces()
            first_s = time.perf_counter() - t0
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                energy_and_forces()
                times.append(time.perf_counter() - t0)
            best = min(times)
            with FlopCounterMode(display=False) as counter:
                energy_and_forces()
            gflop = counter.get_total_flops() / 1e9
            print(f"  {name:<7} {label:<26} {first_s:10.2f} {best * 1e3:10.1f} {best / len(atoms) * 1e6:9.1f}"
                  f" {gflop:9.2f} {gflop / best:8.1f}")


if __name__ == "__main__":
    main()
