"""Make example_data/water64_tip3p.nc: a real MD trajectory of 64 rigid TIP3P waters.

What: 64 water molecules in a periodic cubic box at 1.0 g/cm^3 (L = 12.416 Å), simulated
with ASE's TIP3P calculator (`ase.calculators.tip3p.TIP3P(rc=5.9)`, i.e. Coulomb and LJ
switched off smoothly between 4.9 and 5.9 Å of O-O distance, below half the box) as rigid
molecules: O-H and H-H distances held by `ase.constraints.FixBondLengths` (as in ASE's TIP3P
examples) plus `ase.constraints.FixCom`. Atoms are O, H, H per molecule; each atom carries
its molecule index (`molecule` variable).

Why: a small, genuine, reproducible molecular-liquid trajectory (not synthetic noise) for
eqt's tests, examples and benchmarks: positions, velocities, reference forces and energies
of a physical potential, in eqt's AMBER NetCDF format, small enough to keep in the repo.

How it is made (timestep 1 fs throughout):
  1. Molecules (TIP3P geometry: rOH = 0.9572 Å, HOH = 104.52 deg) on a 4x4x4 simple cubic
     lattice, each rotated uniformly at random about its centre of mass; Maxwell-Boltzmann
     velocities at 300 K, projected on the constraints.
  2. Equilibration: 3 ps Langevin at 300 K, friction 0.01 /fs (not stored). The lattice
     melts at once; the potential energy levels off after ~2 ps (checked in a separate
     12 ps Langevin run: 0.5 ps block means of Epot scatter between -28.2 and -27.3 eV
     from 2 ps on, with no trend).
  3. Production: 4 ps NVE (velocity Verlet), one frame stored every 10 fs: 400 frames, time
     0 ... 3.99 ps and step 0 ... 3990 counted from the start of production.
All randomness (orientations, initial velocities, Langevin noise) comes from
numpy.random.default_rng(SEED), SEED = 20241125, so a rerun on the same platform gives the
same file (bit-for-bit identity across machines/BLAS builds is not promised).

Constraints: ASE's FixBondLengths does its SHAKE/RATTLE sweeps pair by pair in Python with
a general minimum-image search per pair, ~1.5 s per MD step here (hours for this run).
`RigidWater` below subclasses it and performs the same sweeps (same pair order within each
molecule, same update formulas, same tolerance 1e-13) vectorised over the molecules, with
an orthorhombic minimum image; molecules are independent, so the result is the same.

Stored quantities and units (eqt units; the writer converts to AMBER units on disk):
  positions Å (unwrapped: molecules stay whole), velocities Å/ps (ASE velocity
  * ase.units.fs * 1000), forces eV/Å = the raw TIP3P forces (`get_forces(apply_constraint=
  False)`, what a potential predicts, without the constraint forces), time ps, masses Da
  (ASE's standard masses), per-frame potential_energy, kinetic_energy, conserved_energy
  (= potential + kinetic, constant up to integration error in NVE) in eV, and temperature K
  = ASE's `atoms.get_temperature()`, i.e. 2 E_kin / (k_B N_dof) with N_dof =
  3 * 192 - 192 (fixed bonds) - 3 (fixed centre of mass) = 381.
  Coordinates, velocities and forces are float32 on disk (AMBER convention, writer default).

Rerun (from the repository root, eqt's venv active). Run time: 175 s wall on the 2-core
machine that produced the committed file (it uses one core; 7000 MD steps, ~25 ms each):

    python example_data/make_water_box.py            # writes example_data/water64_tip3p.nc
    python example_data/make_water_box.py -o /tmp/w.nc

The file is written under a temporary name (<output>.tmp) and renamed at the end, so a
failed run leaves no partial file. Rerunning reproduced the committed file byte for byte.

Committed run (ASE 3.29.0, numpy default_rng(20241125)): 400 frames, 2.84 MB; production
T = 299.5 +- 16.3 K (mean +- std over frames); conserved energy std 0.63 meV, max-min
3.5 meV, linear drift -1e-4 meV/ps (NVE); O-O radial distribution function first peak at
2.78 Å (g = 2.83), first minimum at ~3.48 Å (MDAnalysis InterRDF, 0.05 Å bins, all frames).
"""
import argparse
import os
import sys
import time

import numpy as np
import ase
from ase import Atoms, units
from ase.calculators.tip3p import TIP3P, angleHOH, rOH
from ase.constraints import FixBondLengths, FixCom
from ase.md.langevin import Langevin
try:                                    # ASE >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:                     # older ASE
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    def thermalize_momenta(atoms, temperature_K, rng=None):
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
from ase.md.verlet import VelocityVerlet

from eqt_analysis import trajectory
from eqt_analysis.io.netcdf import NetCDFWriter

SEED = 20241125
N_SIDE = 4                      # molecules per box edge: 4**3 = 64
DENSITY = 1.0                   # g/cm^3
TEMPERATURE = 300.0             # K
TIMESTEP = 1.0                  # fs
RC = 5.9                        # Å, TIP3P cutoff (must stay below L/2)
EQUIL_STEPS = 3000              # 3 ps Langevin
FRICTION = 0.01                 # 1/fs
N_FRAMES = 400                  # production frames
STRIDE = 10                     # steps between stored frames (10 fs)
FS_TO_PS = 1e-3
V_ASE_TO_A_PS = units.fs * 1000.0   # ASE velocity (Å / ASE time unit) -> Å/ps


class RigidWater(FixBondLengths):
    """FixBondLengths on the O-H1, H1-H2, H2-O pairs of O,H,H water, vectorised over molecules.

    Same SHAKE (positions) / RATTLE (momenta, forces) sweeps as ASE's FixBondLengths, in the
    same pair order within a molecule; the molecules are processed together. Needs an
    orthorhombic cell (as does ase.calculators.tip3p).
    """

    def __init__(self, n_molecules, tolerance=1e-13):
        pairs = [(3 * m + j, 3 * m + (j + 1) % 3) for m in range(n_molecules) for j in range(3)]
        super().__init__(pairs, tolerance=tolerance)

    def _setup(self, atoms):
        if self.bondlengths is None:
            self.bondlengths = self.initialize_bond_lengths(atoms)
        cell = atoms.cell.array
        if not np.allclose(cell, np.diag(np.diag(cell))):
            raise ValueError("RigidWater needs an orthorhombic cell")
        lengths = np.where(atoms.pbc, np.diag(cell), np.inf)
        a, b = self.pairs[:, 0].reshape(-1, 3), self.pairs[:, 1].reshape(-1, 3)
        return atoms.get_masses(), lengths, a, b, self.bondlengths.reshape(-1, 3)

    @staticmethod
    def _mic(d, lengths):
        return d - lengths * np.round(d / lengths)   # round(x / inf) = 0: open directions

    def adjust_positions(self, atoms, new):
        masses, lengths, a, b, cd = self._setup(atoms)
        old = atoms.positions
        r0 = [old[a[:, j]] - old[b[:, j]] for j in range(3)]
        d0 = [self._mic(r, lengths) for r in r0]
        for _ in range(self.maxiter):
            converged = True
            for j in range(3):
                ia, ib = a[:, j], b[:, j]
                d1 = new[ia] - new[ib] - r0[j] + d0[j]
                m = 1 / (1 / masses[ia] + 1 / masses[ib])
                x = 0.5 * (cd[:, j] ** 2 - np.einsum("ij,ij->i", d1, d1)) / np.einsum("ij,ij->i", d0[j], d1)
                x = np.where(np.abs(x) > self.tolerance, x, 0.0)
                if x.any():
                    converged = False
                    new[ia] += (x * m / masses[ia])[:, None] * d0[j]
                    new[ib] -= (x * m / masses[ib])[:, None] * d0[j]
            if converged:
                return
        raise RuntimeError("Did not converge")

    def adjust_momenta(self, atoms, p):
        masses, lengths, a, b, cd = self._setup(atoms)
        old = atoms.positions
        d = [self._mic(old[a[:, j]] - old[b[:, j]], lengths) for j in range(3)]
        for _ in range(self.maxiter):
            converged = True
            for j in range(3):
                ia, ib = a[:, j], b[:, j]
                dv = p[ia] / masses[ia, None] - p[ib] / masses[ib, None]
                m = 1 / (1 / masses[ia] + 1 / masses[ib])
                x = -np.einsum("ij,ij->i", dv, d[j]) / cd[:, j] ** 2
                x = np.where(np.abs(x) > self.tolerance, x, 0.0)
                if x.any():
                    converged = False
                    p[ia] += (x * m)[:, None] * d[j]
                    p[ib] -= (x * m)[:, None] * d[j]
            if converged:
                return
        raise RuntimeError("Did not converge")


def random_rotation(rng):
    """A uniformly distributed rotation matrix (from a normalised Gaussian quaternion)."""
    w, x, y, z = (q := rng.standard_normal(4)) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def build_box(rng):
    """64 randomly oriented TIP3P molecules (O,H,H) on a cubic lattice at DENSITY."""
    theta = np.radians(angleHOH)
    water = Atoms("OH2", positions=[[0, 0, 0], [rOH, 0, 0],
                                    [rOH * np.cos(theta), rOH * np.sin(theta), 0]])
    water.positions -= water.get_center_of_mass()
    n_mol = N_SIDE ** 3
    # volume in Å^3: n * M [Da] * (g per Da) / (g/cm^3) * (Å^3 per cm^3)
    volume = n_mol * water.get_masses().sum() * units._amu * 1e3 / DENSITY * 1e24
    length = volume ** (1 / 3)
    spacing = length / N_SIDE
    positions = []
    for i in range(N_SIDE):
        for j in range(N_SIDE):
            for k in range(N_SIDE):
                site = (np.array([i, j, k]) + 0.5) * spacing
                positions.append(water.positions @ random_rotation(rng).T + site)
    atoms = Atoms("OH2" * n_mol, positions=np.concatenate(positions),
                  cell=[length] * 3, pbc=True)
    atoms.calc = TIP3P(rc=RC)
    atoms.constraints = [RigidWater(n_mol), FixCom()]
    return atoms


def frame(atoms, step):
    """One eqt trajectory frame of the current state."""
    epot = atoms.get_potential_energy()
    ekin = atoms.get_kinetic_energy()
    n_mol = len(atoms) // 3
    return trajectory.build(
        atoms.positions[None], atoms.numbers, cell=atoms.cell.array[None], pbc=[True] * 3,
        velocities=(atoms.get_velocities() * V_ASE_TO_A_PS)[None],
        forces=atoms.get_forces(apply_constraint=False)[None],
        time=[step * TIMESTEP * FS_TO_PS], step=[step], masses=atoms.get_masses(),
        molecule=np.repeat(np.arange(n_mol), 3),
        frame_data={"potential_energy": ([epot], "electronvolt"),
                    "kinetic_energy": ([ekin], "electronvolt"),
                    "conserved_energy": ([epot + ekin], "electronvolt"),
                    "temperature": ([atoms.get_temperature()], "kelvin")})


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=os.path.join(here, "water64_tip3p.nc"))
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rng = np.random.default_rng(SEED)
    atoms = build_box(rng)
    thermalize_momenta(atoms, temperature_K=TEMPERATURE, rng=rng)
    atoms.set_momenta(atoms.get_momenta())          # project on the constraints
    print(f"box {atoms.cell[0, 0]:.4f} Å, {len(atoms)} atoms, "
          f"{atoms.get_number_of_degrees_of_freedom()} degrees of freedom", flush=True)

    dt = TIMESTEP * units.fs
    md = Langevin(atoms, dt, temperature_K=TEMPERATURE, friction=FRICTION / units.fs,
                  fixcm=False, rng=rng)
    samples = []                                     # (T, Epot) every 10 steps
    md.attach(lambda: samples.append((atoms.get_temperature(), atoms.get_potential_energy())),
              interval=10)
    for block in range(EQUIL_STEPS // 500):
        samples.clear()
        md.run(500)
        t_mean, e_mean = np.mean(samples, axis=0)
        print(f"equilibration {block * 0.5:.1f}-{(block + 1) * 0.5:.1f} ps: <T> = {t_mean:6.1f} K, "
              f"<Epot> = {e_mean:8.3f} eV", flush=True)

    md = VelocityVerlet(atoms, dt)
    tmp = args.output + ".tmp"
    history = (f"{os.path.basename(__file__)}: ASE {ase.__version__} TIP3P(rc={RC}), rigid "
               f"water, seed {SEED}; {EQUIL_STEPS * TIMESTEP / 1000:g} ps Langevin "
               f"{TEMPERATURE:g} K then NVE velocity Verlet, dt {TIMESTEP:g} fs, "
               f"frame every {STRIDE} steps")
    temps, econs = [], []
    try:
        with NetCDFWriter(tmp, title=f"{N_SIDE ** 3} TIP3P water molecules, {TEMPERATURE:g} K, ASE",
                          history=history) as writer:
            for k in range(N_FRAMES):
                if k:
                    md.run(STRIDE)
                ds = frame(atoms, k * STRIDE)
                writer.write(ds)
                temps.append(float(ds["temperature"][0]))
                econs.append(float(ds["conserved_energy"][0]))
        os.replace(tmp, args.output)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise

    temps, econs = np.array(temps), np.array(econs)
    drift = np.polyfit(np.arange(N_FRAMES) * STRIDE * TIMESTEP * FS_TO_PS, econs, 1)[0]
    print(f"wrote {args.output}: {N_FRAMES} frames, {os.path.getsize(args.output) / 1e6:.2f} MB")
    print(f"production: T = {temps.mean():.1f} +- {temps.std():.1f} K; conserved energy: "
          f"drift {drift * 1000:+.2e} meV/ps, std {econs.std() * 1000:.3f} meV, "
          f"max-min {np.ptp(econs) * 1000:.3f} meV")
    print(f"run time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
