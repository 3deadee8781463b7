"""How much does a model break rotational symmetry? Spread, grid convergence, ℓ channels.

A model is any `evaluate(positions, cell, numbers, pbc, rotations) -> (energies (n,), forces
(n, N, 3) rotated back)`: eqt models go through one batched JAX call per chunk
(`eqt_evaluator`), any ASE calculator through a loop over rotated copies (`ase_evaluator`).

- spread: standard deviation over random rotations of E and of the back-rotated forces;
- convergence: |E_grid - E_finest| and |F_grid - F_finest| over grids 1, i, 2, 2i, 3, 3i;
- ℓ channels: E(R) sampled on an order-(l_max + 1) grid projected on the real Wigner matrices
  D^l(R) (l <= 4); the variance of E over rotations splits into (2l + 1) sum_mm' c_lmm'^2, so
  one sees which grid order removes the breaking (an order-L grid is exact up to l = 2L - 2).
"""
import numpy as np

from eqt_analysis.rdf import LM, real_spherical_harmonics

from . import averaging, rotations

L_MAX = 4


def eqt_evaluator(potential):
    """Evaluator for an eqt Potential (batched over rotations within potential.memory MB)."""
    def evaluate(positions, cell, numbers, pbc, rots):
        graph = potential.graph(positions, cell, numbers, pbc)
        return averaging.over_rotations(potential.params, potential.config, graph, rots, memory=potential.memory)
    return evaluate


def ase_evaluator(calculator):
    """Evaluator for any ASE calculator (one rotated copy after the other)."""
    from ase import Atoms

    def evaluate(positions, cell, numbers, pbc, rots):
        energies, forces = [], []
        for rot in rots:
            atoms = Atoms(numbers=numbers, positions=positions @ rot.T,
                          cell=None if cell is None else cell @ rot.T, pbc=pbc if cell is not None else False)
            atoms.calc = calculator
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces() @ rot)
        return np.array(energies), np.array(forces)
    return evaluate


def wigner_real(rots, l_max=L_MAX):
    """Real Wigner matrices {l: (n, 2l+1, 2l+1)} of rotations, from real spherical harmonics:
    D^l(R)_mm' = 4 pi <Y_lm(R n) Y_lm'(n)> over an exact Lebedev quadrature."""
    from scipy.integrate import lebedev_rule

    nodes, weights = lebedev_rule(2 * L_MAX + 1)
    weights = weights / weights.sum()
    y = real_spherical_harmonics(nodes.T)  # (q, 24)
    y_rot = real_spherical_harmonics(np.einsum("kab,qb->kqa", rots, nodes.T).reshape(-1, 3)).reshape(len(rots), len(weights), -1)
    out = {}
    for l in range(1, l_max + 1):
        cols = [c for c, (ll, _) in enumerate(LM) if ll == l]
        out[l] = 4 * np.pi * np.einsum("q,kqm,qn->kmn", weights, y_rot[:, :, cols], y[:, cols])
    return out


def channel_variances(energies, rots, weights, l_max):
    """Variance of E over rotations in each angular-momentum channel l = 1..l_max (eV^2)."""
    d = wigner_real(rots, l_max)
    out = []
    for l in range(1, l_max + 1):
        c = np.einsum("k,k,kmn->mn", weights, energies, d[l])
        out.append((2 * l + 1) * np.sum(c**2))
    return np.array(out)


def report(evaluate, structures, n_random=16, grids=rotations.PAPER_GRIDS, l_max=0, seed=0, progress=None):
    """Per-structure rotational statistics. structures: list of (positions, cell, numbers, pbc).

    Returns a dict of arrays: spread_energy (S,), spread_forces (S,), energy[grid] (S,),
    forces[grid] list of (N, 3), and channel_variance (S, l_max) when l_max > 0.
    """
    random_rots, _ = rotations.random_grid(n_random, seed)
    grid_sets = {g: rotations.grid(g, seed) for g in grids}
    out = {"spread_energy": [], "spread_forces": [], "energy": {g: [] for g in grids},
           "forces": {g: [] for g in grids}, "channel_variance": []}
    if l_max:
        fine_rots, fine_w = rotations.grid(f"L{l_max + 1}")
    for positions, cell, numbers, pbc in structures:
        e, f = evaluate(positions, cell, numbers, pbc, random_rots)
        out["spread_energy"].append(np.std(e))
        out["spread_forces"].append(np.mean(np.std(f, axis=0)))
        for g, (rots, w) in grid_sets.items():
            e_g, f_g = evaluate(positions, cell, numbers, pbc, rots)
            e_avg, f_avg, _, _ = averaging.averaged(e_g, f_g, w)
            out["energy"][g].append(e_avg)
            out["forces"][g].append(f_avg)
        if l_max:
            e_fine, _ = evaluate(positions, cell, numbers, pbc, fine_rots)
            out["channel_variance"].append(channel_variances(e_fine, fine_rots, fine_w, l_max))
        if progress:
            progress(1)
    return out
