"""i-PI xyz and property files: units converted exactly once, files of a run merged."""
import numpy as np
import pytest

from eqt_analysis import io, trajectory
from eqt_analysis.errors import InputError
from eqt_analysis.io import ipi

BOHR, HARTREE = 0.529177210903, 27.211386245988  # CODATA 2018, by hand


def _frame(tag, values, step, cell="CELL(abcABC):   20.0  20.0  20.0  90.0  90.0  90.0"):
    lines = ["3", f"# {cell}  Step: {step:11d}  Bead: 0 {tag}"]
    lines += [f"{s:>8} {x:12.5e} {y:12.5e} {z:12.5e}" for s, (x, y, z) in zip("OHH", values)]
    return "\n".join(lines) + "\n"


POS = np.array([[1.0, 2.0, 3.0], [2.5, 2.0, 3.0], [0.5, 3.2, 3.1]])
FRC = np.array([[0.01, -0.02, 0.03], [-0.01, 0.0, 0.02], [0.0, 0.02, -0.05]])


def _run(tmp_path, pos_tag="positions{atomic_unit}  cell{atomic_unit}", frc_tag="forces{atomic_unit}"):
    (tmp_path / "sim.pos_0.xyz").write_text(_frame(pos_tag, POS, 0) + _frame(pos_tag, POS + 0.5, 10))
    (tmp_path / "sim.frc_0.xyz").write_text(_frame(frc_tag, FRC, 0) + _frame(frc_tag, 2 * FRC, 10))
    return [tmp_path / "sim.pos_0.xyz", tmp_path / "sim.frc_0.xyz"]


def test_atomic_units_come_out_in_angstrom_and_ev_per_angstrom(tmp_path):
    ds = trajectory.concat(io.iter_trajectory(_run(tmp_path)))
    np.testing.assert_allclose(ds["positions"].values[0], POS * BOHR, rtol=1e-15)
    np.testing.assert_allclose(ds["positions"].values[1], (POS + 0.5) * BOHR, rtol=1e-15)
    np.testing.assert_allclose(ds["forces"].values[1], 2 * FRC * HARTREE / BOHR, rtol=1e-15)
    np.testing.assert_allclose(ds["cell"].values[0], np.eye(3) * 20.0 * BOHR, rtol=1e-15)
    assert list(ds["step"].values) == [0, 10]
    assert list(ds["atomic_number"].values) == [8, 1, 1]


def test_angstrom_tags_are_not_converted(tmp_path):
    paths = _run(tmp_path, "positions{angstrom}  cell{angstrom}", "forces{ev/ang}")
    ds = trajectory.concat(io.iter_trajectory(paths))
    np.testing.assert_array_equal(ds["positions"].values[0], POS)
    np.testing.assert_array_equal(ds["cell"].values[0], np.eye(3) * 20.0)
    np.testing.assert_allclose(ds["forces"].values[0], FRC, rtol=1e-15)


def test_cell_h_is_column_vectors(tmp_path):
    h = "CELL(H):  10.0 1.0 2.0  0.0 11.0 3.0  0.0 0.0 12.0"  # i-PI upper-triangular h
    (tmp_path / "h.xyz").write_text(_frame("positions{angstrom} cell{angstrom}", POS, 0, cell=h))
    ds = io.open_trajectory(tmp_path / "h.xyz")
    np.testing.assert_array_equal(ds["cell"].values[0], [[10, 0, 0], [1, 11, 0], [2, 3, 12]])


def test_cell_genh_is_row_vectors(tmp_path):
    """GENH is i-PI's general cell as a matrix of row vectors (i-PI's genh2abc; ASE's cell flattened, as
    i-PI's own conversion scripts write it), so the fractional coordinates of the atoms survive."""
    cell = np.array([[10.0, 0.0, 0.0], [3.0, 9.0, 0.0], [2.0, 1.0, 8.0]])
    genh = "CELL(GENH): " + " ".join(f"{x:g}" for x in cell.ravel())
    (tmp_path / "g.xyz").write_text(_frame("positions{angstrom} cell{angstrom}", POS, 0, cell=genh))
    ds = io.open_trajectory(tmp_path / "g.xyz")
    np.testing.assert_array_equal(ds["cell"].values[0], cell)


def test_momenta_become_velocities(tmp_path):
    (tmp_path / "p.pos_0.xyz").write_text(_frame("positions{angstrom} cell{angstrom}", POS, 0))
    (tmp_path / "p.mom_0.xyz").write_text(_frame("momenta{atomic_unit}", FRC, 0))
    ds = trajectory.concat(io.iter_trajectory([tmp_path / "p.pos_0.xyz", tmp_path / "p.mom_0.xyz"]))
    m_au = ds["mass"].values[:, None] * 1822.888486209
    expected = FRC / m_au * BOHR / 2.4188843265857e-5
    np.testing.assert_allclose(ds["velocities"].values[0], expected, rtol=1e-14)


def test_untagged_file_is_refused_unless_units_given(tmp_path):
    (tmp_path / "u.xyz").write_text(_frame("", POS, 0))
    with pytest.raises(InputError, match="--units"):
        io.open_trajectory(tmp_path / "u.xyz")
    ds = io.open_trajectory(tmp_path / "u.xyz", units="angstrom")
    np.testing.assert_array_equal(ds["positions"].values[0], POS)
    ds = io.open_trajectory(tmp_path / "u.xyz", units="atomic_unit")
    np.testing.assert_allclose(ds["positions"].values[0], POS * BOHR, rtol=1e-15)


def test_units_read_twice_is_refused(tmp_path):
    (tmp_path / "t.xyz").write_text(_frame("positions{atomic_unit} cell{atomic_unit}", POS, 0))
    with pytest.raises(InputError, match="contradicts"):
        io.open_trajectory(tmp_path / "t.xyz", units="angstrom")


def test_steps_of_merged_files_must_agree(tmp_path):
    paths = _run(tmp_path)
    text = paths[1].read_text().replace("Step:          10", "Step:          20")
    paths[1].write_text(text)
    with pytest.raises(InputError, match="step 20"):
        list(io.iter_trajectory(paths))


PROPS = """# column   1     --> step : The current simulation time step.
# column   2     --> time{picosecond} : The elapsed simulation time.
# column   3     --> potential : The physical system potential energy.
# column   4     --> temperature{kelvin} : The current temperature.
# cols.    5-7   --> pot_component_raw(0) : components
     0.0  0.0   -0.5   300.0  1.0 2.0 3.0
    10.0  0.005 -0.25  310.0  4.0 5.0 6.0
"""


def test_property_file_units_and_names(tmp_path):
    (tmp_path / "sim.out").write_text(PROPS)
    props = ipi.read_properties(tmp_path / "sim.out")
    np.testing.assert_array_equal(props["step"][0], [0, 10])
    np.testing.assert_allclose(props["potential_energy"][0], [-0.5 * HARTREE, -0.25 * HARTREE], rtol=1e-15)
    assert props["potential_energy"][1] == "electronvolt"
    np.testing.assert_array_equal(props["temperature"][0], [300.0, 310.0])
    np.testing.assert_allclose(props["pot_component_raw_0"][0], np.array([[1, 2, 3], [4, 5, 6]]) * HARTREE)


def test_header_without_rows_is_one_clear_error(tmp_path):
    """A header-only file gave numpy's "input contained no data" warning and "rows have 1" columns."""
    import warnings

    header = "".join(line + "\n" for line in PROPS.splitlines() if line.startswith("#"))
    (tmp_path / "h.out").write_text(header)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match="no data rows after the header"):
            ipi.read_properties(tmp_path / "h.out")


def test_properties_join_by_step_and_by_order(tmp_path):
    (tmp_path / "sim.out").write_text(PROPS)
    props = ipi.read_properties(tmp_path / "sim.out")
    chunk = next(io.iter_trajectory(_run(tmp_path)))
    by_step = ipi.PropertyJoiner(props, "sim.out", "auto")(chunk.copy())
    np.testing.assert_allclose(by_step["potential_energy"].values, [-0.5 * HARTREE, -0.25 * HARTREE])
    np.testing.assert_allclose(by_step["time"].values, [0.0, 0.005])
    join = ipi.PropertyJoiner(props, "sim.out", "order", skip=1)
    with pytest.raises(InputError, match="property rows"):
        join(chunk.copy())


def test_shared_replay_properties(shared_data):
    """The paper's replay file: 191 rows, six models, energies in Hartree -> eV."""
    props = ipi.read_properties(shared_data / "ipi" / "testset-delta.out")
    plain, finest = props["pot_component_raw_0"][0], props["pot_component_raw_5"][0]
    assert plain.shape == (191,)
    # rotational error of the plain model against the 3i average, as in the data README
    assert np.mean(np.abs(plain[1:] - finest[1:])) * 1e3 == pytest.approx(5.09, abs=0.01)
    replay = ipi.read_properties(shared_data / "ipi" / "molecule-replay.out")
    assert replay["temperature"][1] == "kelvin"
    assert replay["conserved_energy"][1] == "electronvolt"


def test_shared_ipi_extxyz(shared_data):
    ds = io.open_trajectory(shared_data / "nvt-mol-sel.xyz")
    assert ds.sizes["frame"] == 1000 and list(ds["atomic_number"].values) == [8, 1, 1]
    assert ds["step"].values[1] == 16000
    r_oh = np.linalg.norm(ds["positions"].values[:, 1] - ds["positions"].values[:, 0], axis=-1)
    assert 0.85 < r_oh.min() and r_oh.max() < 1.25  # Å: positions were taken as Å, not bohr


@pytest.mark.parametrize("header", ['Lattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 pbc="T T T"',
                                    "# CELL(abcABC): 10.0 10.0 10.0 90.0 90.0 90.0 Step: 0 Bead: 0 "
                                    "positions{angstrom} cell{angstrom}"])
@pytest.mark.parametrize("count, says", [(1_000_000_000, "truncated"), (-5, "negative atom count")])
def test_absurd_atom_counts_are_refused_at_once(tmp_path, header, count, says):
    """A 100-byte file declaring 10^9 atoms took minutes and gigabytes (readers read the declared lines past
    the end); a negative count gave a traceback. extxyz and i-PI alike."""
    import time

    path = tmp_path / "bad.xyz"
    path.write_text(f"{count}\n{header}\nO 1 1 1\nH 2 1 1\n")
    start = time.perf_counter()
    with pytest.raises(InputError, match=says):
        trajectory.concat(io.iter_trajectory(path))
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("drop, says", [("forces", "frame 1 lacks forces"), ("time", "frame 1 lacks time"),
                                        ("momenta", "frame 1 lacks velocities")])
def test_extxyz_frames_must_carry_what_the_first_carries(tmp_path, drop, says):
    """A middle frame without forces or time gave a traceback; one without momenta got zero velocities."""
    import ase.io
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = []
    for k in range(3):
        atoms = Atoms("OHH", positions=POS + 0.01 * k, cell=np.eye(3) * 10, pbc=True)
        atoms.set_momenta(np.full((3, 3), 0.1))
        atoms.info["time"] = 10.0 * k
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=FRC)
        if k == 1:
            if drop == "momenta":
                del atoms.arrays["momenta"]
            elif drop == "time":
                del atoms.info["time"]
            else:
                atoms.calc = SinglePointCalculator(atoms, energy=-1.0)
        frames.append(atoms)
    ase.io.write(tmp_path / "m.xyz", frames, format="extxyz")
    for chunk in (1, 256):
        with pytest.raises(InputError, match=says):
            trajectory.concat(io.iter_trajectory(tmp_path / "m.xyz", chunk_frames=chunk))
