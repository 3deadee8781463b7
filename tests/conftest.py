"""Shared fixtures: small synthetic systems with known answers, and the optional reference data."""
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

# a strongly triclinic cell (rows are lattice vectors, Å)
TRICLINIC = np.array([[11.0, 0.0, 0.0], [4.5, 10.0, 0.0], [-3.0, 3.5, 9.5]])


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after every test module (when JAX was imported): the suite compiles
    hundreds of model, MD and training programs in one process, and keeping them all held gigabytes."""
    yield
    import sys

    if "jax" in sys.modules:
        sys.modules["jax"].clear_caches()


@pytest.fixture
def shared_data():
    """Path of ../shared/data; the test is skipped when it is absent (a user's clone)."""
    if not SHARED.is_dir():
        pytest.skip("reference data ../shared/data not present")
    return SHARED


def water_molecules(n_mol, cell, rng):
    """Positions (3 n_mol, 3) of rigid waters (O,H,H; r_OH 0.9572 Å, 104.52°) with random
    orientations, centred on a 2x2x2 grid of fractional points 0 and 1/2 (+ small jitter) of
    `cell`, so molecules sit on the cell faces (split when wrapped) and never touch."""
    r, theta = 0.9572, np.radians(104.52)
    local = np.array([[0, 0, 0], [r, 0, 0], [r * np.cos(theta), r * np.sin(theta), 0]])
    grid = np.array([[i, j, k] for i in (0, 0.5) for j in (0, 0.5) for k in (0, 0.5)])
    out = []
    for m in range(n_mol):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        centre = (grid[m % 8] + 0.02 * rng.normal(size=3)) @ cell
        out.append(centre + local @ q.T)
    return np.concatenate(out), np.tile([8, 1, 1], n_mol)


def wrap(positions, cell):
    """Wrap positions into the cell (fractional coordinates in [0, 1))."""
    frac = positions @ np.linalg.inv(cell)
    return (frac - np.floor(frac)) @ cell


@pytest.fixture
def water_frames():
    """A list of ase.Atoms: 8 waters in a triclinic cell, 5 frames, with wrapped positions,
    momenta, forces, energy, time (ASE units) and a step, like an ASE MD run."""
    import ase
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(1)
    frames = []
    for k in range(5):
        cell = TRICLINIC * (1 + 0.01 * k)
        pos, numbers = water_molecules(8, cell, rng)
        atoms = ase.Atoms(numbers=numbers, positions=wrap(pos, cell), cell=cell, pbc=True)
        atoms.set_momenta(rng.normal(size=(len(atoms), 3)))
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0 * rng.random(),
                                           forces=rng.normal(size=(len(atoms), 3)))
        atoms.info["time"] = 10.0 * k
        atoms.info["step"] = 20 * k
        frames.append(atoms)
    return frames


def ou_velocities(rng, n_frames, n_atoms, dt, tau, sigma):
    """Velocities (n_frames, n_atoms, 3) Å/ps of Langevin particles: every component an
    Ornstein-Uhlenbeck process with relaxation time tau (ps) and standard deviation sigma
    (Å/ps), sampled every dt (ps), started in equilibrium. Returns (v, a = exp(-dt/tau))."""
    a = np.exp(-dt / tau)
    v = np.empty((n_frames, n_atoms, 3))
    v[0] = rng.normal(scale=sigma, size=(n_atoms, 3))
    kicks = rng.normal(scale=sigma * np.sqrt(1 - a * a), size=(n_frames, n_atoms, 3))
    for n in range(1, n_frames):
        v[n] = a * v[n - 1] + kicks[n]
    return v, a
