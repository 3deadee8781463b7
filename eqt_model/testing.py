"""An equivariance test harness for any potential, JAX or not.

    report = check_symmetries(energy_and_forces, positions, cell, numbers)
    assert report.passed, report.summary()

`energy_and_forces(positions, cell, numbers) -> (energy, forces (N, 3))` is the potential
(cell None for open systems). The harness applies, in float64, a translation, a permutation
of the atoms, the inversion and many seeded rotations (the cell is rotated with the
positions), and compares E and F with what exact symmetry requires:
    translation  E(x + t) = E(x),  F(x + t) = F(x)
    permutation  E(Px) = E(x),      F(Px) = P F(x)
    inversion    E(-x) = E(x),      F(-x) = -F(x)
    rotation     E(xR^T) = E(x),    F(xR^T) = F(x) R^T
A check passes when its largest error is within a dtype-aware tolerance: rtol times the
scale of the quantity (|E| per structure, max |F|), rtol = 1e-5 for float32 models and
1e-10 for float64 ones (dtype: by default an eqt Potential's own precision, else float32 when
the function returns float32 forces, else float64). The report says which check failed and by
how much, and when every failure is within float32 rounding, that the potential may compute in
float32 (pass dtype='float32').
"""
from dataclasses import dataclass, field

import numpy as np

RTOL = {"float32": 1e-5, "float64": 1e-10}


@dataclass
class Check:
    name: str
    energy_error: float  # eV, largest over the transformations tried
    forces_error: float  # eV/Å
    energy_tolerance: float
    forces_tolerance: float

    @property
    def passed(self):
        return self.energy_error <= self.energy_tolerance and self.forces_error <= self.forces_tolerance


@dataclass
class Report:
    checks: list = field(default_factory=list)
    note: str = ""

    @property
    def passed(self):
        return all(c.passed for c in self.checks)

    def failed(self):
        return [c.name for c in self.checks if not c.passed]

    def summary(self):
        lines = []
        for c in self.checks:
            mark = "ok  " if c.passed else "FAIL"
            lines.append(f"{mark} {c.name:<12} max |dE| {c.energy_error:.3e} eV (tol {c.energy_tolerance:.1e}), "
                         f"max |dF| {c.forces_error:.3e} eV/Å (tol {c.forces_tolerance:.1e})")
        return "\n".join(lines + ([self.note] if self.note else []))


def check_symmetries(energy_and_forces, positions, cell=None, numbers=None, n_rotations=32, seed=0,
                     dtype=None, rtol=None):
    """Run the translation, permutation, inversion and rotation checks; returns a Report. dtype:
    'float32' or 'float64' (the tolerances); None: `Potential.dtype` for an eqt Potential's
    energy_and_forces, else float32 when the forces come back as float32."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    x = np.asarray(positions, dtype=np.float64)
    cell = None if cell is None else np.asarray(cell, dtype=np.float64)
    numbers = np.asarray(numbers) if numbers is not None else np.zeros(len(x), int)
    e0, f0 = energy_and_forces(x, cell, numbers)
    if dtype is None:  # an eqt Potential's method says; else the forces' own precision
        dtype = getattr(getattr(energy_and_forces, "__self__", None), "dtype", None) or \
            ("float32" if np.asarray(f0).dtype == np.float32 else "float64")
    rtol = rtol if rtol is not None else RTOL[str(dtype)]

    def ef(pos, box, nums):
        e, f = energy_and_forces(pos, box, nums)
        return float(e), np.asarray(f, dtype=np.float64)

    e0, f0 = float(e0), np.asarray(f0, dtype=np.float64)
    e_tol = rtol * max(1.0, abs(e0))
    f_tol = rtol * max(1.0, float(np.abs(f0).max())) * 10
    report = Report()

    shift = rng.normal(size=3) * 3.0
    e, f = ef(x + shift, cell, numbers)
    report.checks.append(Check("translation", abs(e - e0), float(np.abs(f - f0).max()), e_tol, f_tol))

    perm = rng.permutation(len(x))
    e, f = ef(x[perm], cell, numbers[perm])
    report.checks.append(Check("permutation", abs(e - e0), float(np.abs(f - f0[perm]).max()), e_tol, f_tol))

    e, f = ef(-x, None if cell is None else -cell, numbers)
    report.checks.append(Check("inversion", abs(e - e0), float(np.abs(f + f0).max()), e_tol, f_tol))

    worst_e = worst_f = 0.0
    for rot in Rotation.random(n_rotations, random_state=seed).as_matrix():
        e, f = ef(x @ rot.T, None if cell is None else cell @ rot.T, numbers)
        worst_e = max(worst_e, abs(e - e0))
        worst_f = max(worst_f, float(np.abs(f - f0 @ rot.T).max()))
    report.checks.append(Check("rotation", worst_e, worst_f, e_tol, f_tol))
    if str(dtype) == "float64" and not report.passed:
        loose = RTOL["float32"] / rtol  # the float32 tolerances, as multiples of these
        if all(c.energy_error <= loose * c.energy_tolerance and c.forces_error <= loose * c.forces_tolerance
               for c in report.checks):
            report.note = ("every error is within float32 rounding: if the potential computes in float32 "
                           "(returning float64 arrays), pass dtype='float32'")
    return report
