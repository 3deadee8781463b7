"""The i-PI property reader on every column kind i-PI writes (time, energies, temperature,
kinetic components, pressure, stress, volume, cell, per-atom x/v/f, ensemble and bias terms),
in atomic units and with unit tags, against values converted by hand with constants written
out here (CODATA 2018), not with eqt_analysis.units."""
import numpy as np
import pytest

from eqt_analysis.io import ipi

HARTREE = 27.211386245988  # eV
BOHR = 0.529177210903  # Å
AU_TIME_PS = 2.4188843265857e-5  # ps
AU_TEMPERATURE = 3.1577502480407e5  # K (hartree / k_B)
AU_PRESSURE_BAR = 2.9421015697e13 * 1e-5  # hartree / bohr^3 = 2.9421015697e13 Pa
AU_FORCE = 51.4220674763  # eV/Å (8.2387234983e-8 N)
AU_VELOCITY = 21876.9126364  # Å/ps (2.18769126364e6 m/s)

# (label as i-PI writes it, number of columns, factor to eqt units, eqt name, eqt unit)
ATOMIC = [
    ("step", 1, None, "step", ""),
    ("time", 1, AU_TIME_PS, "time", "picosecond"),
    ("conserved", 1, HARTREE, "conserved_energy", "electronvolt"),
    ("temperature", 1, AU_TEMPERATURE, "temperature", "kelvin"),
    ("potential", 1, HARTREE, "potential_energy", "electronvolt"),
    ("kinetic_md", 1, HARTREE, "kinetic_energy", "electronvolt"),
    ("kinetic_cv", 1, HARTREE, "kinetic_cv", "electronvolt"),
    ("kinetic_td", 1, HARTREE, "kinetic_td", "electronvolt"),
    ("kinetic_tens", 6, HARTREE, "kinetic_tens", "electronvolt"),
    ("pressure_md", 1, AU_PRESSURE_BAR, "pressure", "bar"),
    ("pressure_cv", 1, AU_PRESSURE_BAR, "pressure_cv", "bar"),
    ("stress_md", 9, AU_PRESSURE_BAR, "stress_md", "bar"),
    ("stress_cv", 9, AU_PRESSURE_BAR, "stress_cv", "bar"),
    ("volume", 1, BOHR**3, "volume", "angstrom^3"),
    ("cell_h", 9, BOHR, "cell_h", "angstrom"),
    ("atom_x(atom=1)", 3, BOHR, "atom_x_atom_1", "angstrom"),
    ("atom_v(atom=1)", 3, AU_VELOCITY, "atom_v_atom_1", "angstrom/picosecond"),
    ("atom_f(atom=1)", 3, AU_FORCE, "atom_f_atom_1", "electronvolt/angstrom"),
    ("pot_component(0)", 1, HARTREE, "pot_component_0", "electronvolt"),
    ("pot_component_raw(1)", 1, HARTREE, "pot_component_raw_1", "electronvolt"),
    ("spring", 1, HARTREE, "spring", "electronvolt"),
    ("bias_potential", 1, HARTREE, "bias_potential", "electronvolt"),
    ("ensemble_bias", 1, HARTREE, "ensemble_bias", "electronvolt"),
    ("ensemble_temperature", 1, AU_TEMPERATURE, "ensemble_temperature", "kelvin"),
    ("ensemble_pressure", 1, AU_PRESSURE_BAR, "ensemble_pressure", "bar"),
]
TAGGED = [
    ("step", 1, None, "step", ""),
    ("time{femtosecond}", 1, 1e-3, "time", "picosecond"),
    ("conserved{electronvolt}", 1, 1.0, "conserved_energy", "electronvolt"),
    ("temperature{kelvin}", 1, 1.0, "temperature", "kelvin"),
    ("potential{millielectronvolt}", 1, 1e-3, "potential_energy", "electronvolt"),
    ("kinetic_md{kcal/mol}", 1, 4184 / 6.02214076e23 / 1.602176634e-19, "kinetic_energy", "electronvolt"),
    ("kinetic_tens{electronvolt}", 6, 1.0, "kinetic_tens", "electronvolt"),
    ("pressure_md{megapascal}", 1, 10.0, "pressure", "bar"),
    ("pressure_cv{gigapascal}", 1, 1e4, "pressure_cv", "bar"),
    ("stress_md{bar}", 9, 1.0, "stress_md", "bar"),
    ("stress_cv{pascal}", 9, 1e-5, "stress_cv", "bar"),
    ("ensemble_pressure{atmosphere}", 1, 1.01325, "ensemble_pressure", "bar"),
    ("volume{angstrom3}", 1, 1.0, "volume", "angstrom^3"),
    ("cell_h{angstrom}", 9, 1.0, "cell_h", "angstrom"),
    ("atom_x{nanometer}(atom=2)", 3, 10.0, "atom_x_atom_2", "angstrom"),
    ("atom_v{m/s}(atom=2)", 3, 1e-2, "atom_v_atom_2", "angstrom/picosecond"),
    ("atom_f{ev/ang}(atom=2)", 3, 1.0, "atom_f_atom_2", "electronvolt/angstrom"),
    ("pot_component_raw{kj/mol}(0)", 1, 1e3 / 6.02214076e23 / 1.602176634e-19, "pot_component_raw_0", "electronvolt"),
]


def _write(path, columns, rows=3, seed=0):
    """An i-PI property file: `# column N -->` / `# cols. N-M -->` header, then rows of numbers."""
    rng = np.random.default_rng(seed)
    header, col, blocks = [], 1, []
    for label, width, *_ in columns:
        where = f"column {col:3d}    " if width == 1 else f"cols.  {col:3d}-{col + width - 1:<3d}"
        header.append(f"# {where} --> {label} : description of {label.split('{')[0]}")
        if label == "step":
            blocks.append(np.arange(rows)[:, None] * 20.0)
        else:
            blocks.append(rng.normal(size=(rows, width)) * 3.0 + 1.0)
        col += width
    data = np.hstack(blocks)
    lines = header + ["  ".join(f"{x: .10e}" for x in row) for row in data]
    path.write_text("\n".join(lines) + "\n")
    return data


@pytest.mark.parametrize("columns", [ATOMIC, TAGGED], ids=["atomic_units", "tagged"])
def test_every_column_kind_is_converted_by_hand(tmp_path, columns):
    data = _write(tmp_path / "sim.out", columns)
    props = ipi.read_properties(tmp_path / "sim.out")
    assert set(props) == {name for _, _, _, name, _ in columns}
    col = 0
    for label, width, factor, name, unit in columns:
        raw = data[:, col] if width == 1 else data[:, col:col + width]
        values, got_unit = props[name]
        if name == "step":
            np.testing.assert_array_equal(values, [0, 20, 40])
            assert values.dtype.kind == "i"
        else:
            np.testing.assert_allclose(values, raw * factor, rtol=1e-10, err_msg=label)
            assert got_unit == unit, label
        assert np.shape(values) == ((3,) if width == 1 else (3, width)), label
        col += width


def test_unknown_property_is_kept_unconverted_with_a_warning(tmp_path):
    from eqt_analysis.trajectory import EqtWarning

    (tmp_path / "x.out").write_text("# column   1     --> step : step\n"
                                    "# column   2     --> isotope_zetatd(0) : an estimator eqt does not know\n"
                                    " 0  0.25\n 10  0.5\n")
    with pytest.warns(EqtWarning, match="unknown dimension"):
        props = ipi.read_properties(tmp_path / "x.out")
    np.testing.assert_array_equal(props["isotope_zetatd_0"][0], [0.25, 0.5])
    assert "unconverted" in props["isotope_zetatd_0"][1]


def test_pressure_and_time_of_a_realistic_row(tmp_path):
    """One row written by hand as i-PI prints it: 2.5 fs steps, 1 GPa, 300 K in atomic units."""
    text = ("# column   1     --> step : The current simulation time step.\n"
            "# column   2     --> time : The elapsed simulation time.\n"
            "# column   3     --> temperature : The current temperature.\n"
            "# column   4     --> pressure_md : The pressure of the (extended) system.\n"
            "   400  4.1341373335e+01  9.5004346904e-04  3.3989309217e-05\n")
    (tmp_path / "r.out").write_text(text)
    props = ipi.read_properties(tmp_path / "r.out")
    assert props["time"][0][0] == pytest.approx(1.0e-3, rel=1e-10)  # 41.341 a.u. of time = 1 fs
    assert props["temperature"][0][0] == pytest.approx(300.0, rel=1e-10)
    assert props["pressure"][0][0] == pytest.approx(1.0e4, rel=1e-10)  # bar = 1 GPa
