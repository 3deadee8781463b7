"""Rotational-variance reports: zero for an invariant calculator, analytic for a field term;
the rotvar result and its command."""
import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes
from scipy.spatial.transform import Rotation

from eqt_analysis.results import schema_problems
from eqt_model import rotvar
from eqt_model.calculator import ase_evaluator
from eqt_model.wigner import wigner_real

from .conftest import water_molecules


class FieldDipole(Calculator):
    """E = -field · sum_i q_i r_i: not rotation invariant, a pure l = 1 channel."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, field, charges):
        super().__init__()
        self.field, self.charges = np.asarray(field), np.asarray(charges)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        dipole = self.charges @ self.atoms.positions
        self.results = {"energy": -float(self.field @ dipole), "forces": np.outer(self.charges, self.field)}


def _cluster():
    pos, numbers = water_molecules(2, np.eye(3) * 6.0, np.random.default_rng(0))
    return pos - pos.mean(0), numbers


def test_invariant_calculator_has_zero_spread_and_no_channels():
    from ase.calculators.tip3p import TIP3P

    pos, numbers = _cluster()
    out = rotvar.report(ase_evaluator(TIP3P(rc=9.0)), [(pos, None, numbers, [False] * 3)],
                        n_random=8, grids=("1", "2"), l_max=2)
    assert out["spread_energy"][0] < 1e-10 and out["spread_forces"][0] < 1e-10
    assert np.all(out["channel_variance"][0] < 1e-18)
    assert abs(out["energy"]["1"][0] - out["energy"]["2"][0]) < 1e-10


def test_field_term_has_the_analytic_spread_and_channel():
    pos, numbers = _cluster()
    charges = np.where(numbers == 8, -0.8, 0.4)
    field = np.array([0.2, -0.1, 0.3])
    p = charges @ pos
    expected_var = field @ field * (p @ p) / 3  # variance of f·(R p) over uniform rotations
    out = rotvar.report(ase_evaluator(FieldDipole(field, charges)), [(pos, None, numbers, [False] * 3)],
                        n_random=4000, grids=("1", "2", "3"), l_max=3, seed=1)
    assert out["spread_energy"][0] ** 2 == pytest.approx(expected_var, rel=0.05)
    channels = out["channel_variance"][0]
    assert channels[0] == pytest.approx(expected_var, rel=1e-10)  # all of it in l = 1 ...
    assert np.all(channels[1:] < 1e-12 * expected_var)  # ... none in l = 2, 3
    # an order-2 grid (exact to l = 2) removes an l = 1 breaking completely: averaged E = 0
    assert abs(out["energy"]["2"][0]) < 1e-12 and abs(out["energy"]["3"][0]) < 1e-12


def test_wigner_matrices_are_orthogonal_representations():
    rots = Rotation.random(5, random_state=3).as_matrix()
    d = wigner_real(rots, 4)
    for l, mats in d.items():
        np.testing.assert_allclose(mats @ mats.transpose(0, 2, 1), np.broadcast_to(np.eye(2 * l + 1), mats.shape), atol=1e-10)
    # homomorphism: D(R1 R2) = D(R1) D(R2)
    both = wigner_real(np.einsum("ab,bc->ac", rots[0], rots[1])[None], 4)
    for l in d:
        np.testing.assert_allclose(both[l][0], d[l][0] @ d[l][1], atol=1e-10)


def _xyz(tmp_path, n=2):
    import ase.io
    from ase import Atoms
    from ase.calculators.tip3p import TIP3P

    frames = []
    for seed in range(n):
        pos, numbers = water_molecules(2, np.eye(3) * 6.0, np.random.default_rng(seed))
        atoms = Atoms(numbers=numbers, positions=pos)
        atoms.calc = TIP3P(rc=9.0)
        atoms.get_forces()
        frames.append(atoms)
    ase.io.write(tmp_path / "c.xyz", frames)
    return tmp_path / "c.xyz"


def test_rotvar_result_follows_the_schema_in_the_printed_units():
    from ase.calculators.tip3p import TIP3P

    pos, numbers = _cluster()
    charges = np.where(numbers == 8, -0.8, 0.4)
    items = [(pos, None, numbers, [False] * 3), (pos[::-1].copy(), None, numbers[::-1].copy(), [False] * 3)]
    calc = FieldDipole([0.2, -0.1, 0.3], charges)
    out = rotvar.report(ase_evaluator(calc), items, n_random=8, grids=("1", "i", "2"), l_max=2)
    labels = [ase_evaluator(TIP3P(rc=9.0))(*item, np.eye(3)[None]) for item in items]
    ds = rotvar.result(out, items, np.array([e[0] for e, _ in labels]), [f[0] for _, f in labels], n_random=8)
    assert schema_problems(ds) == [] and ds.attrs["result_type"] == "rotvar" and ds.attrs["n_random"] == 8
    assert ds["forces_error"].dims == ("grid", "species") and list(ds["species"].values) == ["total", "H", "O"]
    np.testing.assert_allclose(ds["spread_energy"].values, np.array(out["spread_energy"]) * 1e3)  # meV
    np.testing.assert_allclose(ds["channel_variance"].values, np.array(out["channel_variance"]) * 1e6)  # meV^2
    assert ds["spread_energy"].attrs["units"] == "meV" and ds["channel_variance"].attrs["units"] == "meV^2"
    e1 = np.array(out["energy"]["1"])
    assert ds["test_energy_mae"].sel(grid="1") == pytest.approx(np.mean(np.abs(e1 - [e[0] for e, _ in labels])) * 1e3)
    assert float(ds["rotational_over_test_energy"]) == pytest.approx(
        float(ds["energy_error"].sel(grid="1") / ds["test_energy_mae"].sel(grid="1")))
    assert float(ds["forces_error"].sel(grid="2", species="total")) == 0.0
    columns, rows = rotvar.grid_table(ds)
    assert [c for c, _ in columns][:3] == ["grid", "energy_error", "energy_error_err"] and len(rows) == 3
    assert ("forces_error[H]", "meV/Å") in columns
    text = rotvar.format_table(columns, rows).splitlines()
    assert "energy_error[meV]" in text[0] and len({len(line) for line in text[1:]}) == 1  # aligned


def test_rotvar_command(tmp_path, shared_data):
    import json

    import xarray as xr
    from click.testing import CliRunner

    from eqt_cli import rotvar as cli

    result = CliRunner().invoke(cli.main, ["--from-properties", str(shared_data / "ipi" / "molecule-delta.out"),
                                           "--atoms", "3", "--json", "-o", str(tmp_path / "p.nc")])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["grid"] for r in rows] == ["1", "i", "2", "2i", "3", "3i"]
    assert rows[0]["energy_error"] == pytest.approx(2.82, abs=0.006)
    assert schema_problems(xr.open_dataset(tmp_path / "p.nc")) == []
    result = CliRunner().invoke(cli.main, ["--from-properties", str(shared_data / "ipi" / "molecule-delta.out"),
                                           "--tsv", "-o", str(tmp_path / "q.nc")])
    header = result.stdout.splitlines()[0].split("\t")
    assert result.exit_code == 0 and header[:3] == ["grid", "energy_error[meV]", "energy_error_err[meV]"]
    path = _xyz(tmp_path)
    result = CliRunner().invoke(cli.main, ["--calculator", "ase.calculators.tip3p:TIP3P", str(path), "--grids", "1,2",
                                           "--l-max", "1", "-q", "-o", str(tmp_path / "t.nc")])
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(tmp_path / "t.nc")
    assert schema_problems(ds) == [] and "test_forces_mae" in ds
    assert float(ds["spread_energy"].max()) < 1e-6 and float(ds["channel_variance"].max()) < 1e-12  # meV, meV^2
    (tmp_path / "five").mkdir()
    five = _xyz(tmp_path / "five", 5)
    result = CliRunner().invoke(cli.main, ["--calculator", "ase.calculators.tip3p:TIP3P", str(five), "--grids", "1,i",
                                           "--max-structures", "3", "-q", "-o", str(tmp_path / "s.nc")])
    assert result.exit_code == 0, result.output
    assert xr.open_dataset(tmp_path / "s.nc")["structure"].values.tolist() == [0, 2, 4]  # evenly spread
    assert "warning" not in result.stderr
    result = CliRunner().invoke(cli.main, ["--calculator", "ase.calculators.tip3p:TIP3P", str(five), "--grids", "1,i",
                                           "--max-structures", "1", "-o", str(tmp_path / "one.nc")])
    assert result.exit_code == 0 and "warning: one structure: the standard errors" in result.stderr  # ± columns NaN
    for args in (["--calculator", "nonexistent.module:make", str(path)], ["--calculator", "ase", str(path)],
                 ["--from-properties", str(shared_data / "ipi" / "molecule-delta.out"), "--max-structures", "2"],
                 ["--calculator", "ase.calculators.tip3p:TIP3P", str(path), "--grids", "1,fancy"],
                 ["--calculator", "ase.calculators.tip3p:TIP3P", str(path), "--test-split"],
                 ["--calculator", "ase.calculators.tip3p:TIP3P", str(path), "--json", "--tsv"]):
        result = CliRunner().invoke(cli.main, args + ["-o", str(tmp_path / "bad.nc")])
        assert result.exit_code == 2, (args, result.output)
        assert not (tmp_path / "bad.nc").exists()


def test_torque_per_grid_is_the_analytic_one_and_vanishes_for_invariant_models():
    """The net torque of the forces on an isolated cluster: p x field for the dipole-in-a-field model (its
    forces q_i field), zero once a grid removes its l = 1 breaking, zero for an invariant model (TIP3P)."""
    from ase.calculators.tip3p import TIP3P

    pos, numbers = _cluster()
    charges = np.where(numbers == 8, -0.8, 0.4)
    field = np.array([0.2, -0.1, 0.3])
    item = [(pos, None, numbers, [False] * 3)]
    out = rotvar.report(ase_evaluator(FieldDipole(field, charges)), item, n_random=2, grids=("1", "2"))
    ds = rotvar.result(out, item)
    assert float(ds["torque"].sel(grid="1")) == pytest.approx(np.linalg.norm(np.cross(charges @ pos, field)) * 1e3,
                                                              rel=1e-10)
    assert float(ds["torque"].sel(grid="2")) < 1e-9
    ds = rotvar.result(rotvar.report(ase_evaluator(TIP3P(rc=9.0)), item, n_random=2, grids=("1", "2")), item)
    assert np.all(ds["torque"].values < 1e-9)
    periodic = [(pos, np.eye(3) * 20, numbers, [True] * 3)]
    out = rotvar.report(ase_evaluator(FieldDipole(field, charges)), periodic, n_random=2, grids=("1", "2"))
    assert "torque" not in rotvar.result(out, periodic)  # no net torque in a periodic cell


def test_plan_counts_evaluations_and_the_programs_a_report_compiles():
    """--plan left out compile time (20-35x low for small runs): one program per atom count and batch of
    rotations (each grid, the random rotations, the l-analysis)."""
    from eqt_model import rotations

    calls = []

    def evaluate(positions, cell, numbers, pbc, rots):
        calls.append(len(rots))
        return np.zeros(len(rots)), np.zeros((len(rots), len(positions), 3))

    structure = lambda n: (np.zeros((n, 3)), None, np.ones(n, int), np.zeros(3, bool))  # noqa: E731
    grids = [rotations.grid("1"), rotations.grid("i")]
    lines = rotvar.plan(evaluate, [structure(3), structure(6), structure(3)], grids, 2, 0)
    assert calls == [1, 1]  # the compiling call, then the timed one
    per_structure = 2 + len(grids[0]) + len(grids[1])
    assert f"3 structures x {per_structure} evaluations = {3 * per_structure}" in lines[-1]
    assert "(6 programs x" in lines[-1]  # 2 atom counts x (2 grids + the random rotations)
