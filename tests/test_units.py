"""Every unit constant of eqt_analysis.units against an absolute value written out here, and
the conversions that use them checked on signals built in SI units without eqt_analysis.units.

Reference values: CODATA 2018 (NIST, https://physics.nist.gov/cuu/Constants/) and the exact
SI defining constants; each is written as printed there, not computed from eqt's constants.
"""
import numpy as np
import pytest

import xarray as xr

from eqt_analysis import diffusion, trajectory, units
from eqt_analysis.spectra import TCF
from eqt_analysis.system import System
from eqt_analysis.vibrations import VDOS

# --- exact SI defining constants
C_LIGHT = 299792458.0  # m/s
E_CHARGE = 1.602176634e-19  # C (J per eV)
N_AVOGADRO = 6.02214076e23  # 1/mol
K_B_SI = 1.380649e-23  # J/K
# --- CODATA 2018 measured / derived values, as printed
BOHR_M = 0.529177210903e-10  # m
HARTREE_EV = 27.211386245988  # eV
AU_TIME_S = 2.4188843265857e-17  # s
AU_FORCE_N = 8.2387234983e-8  # N
AU_VELOCITY_M_S = 2.18769126364e6  # m/s
ELECTRON_MASS_U = 5.48579909065e-4  # u
HARTREE_OVER_K_B = 3.1577502480407e5  # K
AU_PRESSURE_PA = 2.9421015697e13  # Pa (E_h / a_0^3)
AMU_KG = 1.66053906660e-27  # kg
K_B_EV = 8.617333262e-5  # eV/K
CALORIE = 4.184  # J (thermochemical)

ANGSTROM, PS = 1e-10, 1e-12  # m, s


@pytest.mark.parametrize("name, expected, rel", [
    ("BOHR", BOHR_M / ANGSTROM, 1e-12),  # 0.529177210903 Å
    ("HARTREE", HARTREE_EV, 1e-12),  # 27.211386245988 eV
    ("AU_TIME", AU_TIME_S / PS, 1e-12),  # 2.4188843265857e-5 ps
    ("AU_FORCE", AU_FORCE_N / E_CHARGE * ANGSTROM, 1e-10),  # 51.42206747 eV/Å
    ("AU_VELOCITY", AU_VELOCITY_M_S * PS / ANGSTROM, 1e-10),  # 21876.9126364 Å/ps
    ("AU_MASS", ELECTRON_MASS_U, 1e-10),  # amu per electron mass
    ("AU_TEMPERATURE", HARTREE_OVER_K_B, 1e-12),  # K
    ("AU_PRESSURE", AU_PRESSURE_PA * 1e-5, 1e-10),  # 2.9421015697e8 bar
    ("AU_VOLUME", (BOHR_M / ANGSTROM) ** 3, 1e-12),  # 0.148184711 Å^3
    ("KJ_MOL", 1e3 / N_AVOGADRO / E_CHARGE, 1e-12),  # 0.0103642696563 eV
    ("KCAL_MOL", 0.0433641042418, 1e-11),  # eV: 4.184 kJ/mol / N_A / e
    ("FS", 1e-3, 0.0),  # ps
    ("INV_CM", C_LIGHT * 100 * PS, 1e-15),  # THz per cm^-1: c = 0.0299792458 cm/ps
    ("K_BOLTZMANN", K_B_EV, 1e-12),  # eV/K
    ("AMU_A2_PS2", AMU_KG * (ANGSTROM / PS) ** 2 / E_CHARGE, 1e-12),  # 1.03642697e-4 eV
    ("ASE_TIME", ANGSTROM * np.sqrt(AMU_KG / E_CHARGE) / PS, 1e-7),  # 0.0101805057 ps (ASE: CODATA 2014)
    ("ASE_VELOCITY", PS / (ANGSTROM * np.sqrt(AMU_KG / E_CHARGE)), 1e-7),  # Å/ps per ASE velocity unit
])
def test_constant_against_its_absolute_value(name, expected, rel):
    assert getattr(units, name) == pytest.approx(expected, rel=rel, abs=0.0), name


def test_written_values_agree_with_each_other():
    """The reference values above are consistent (guards the test itself against a typo)."""
    assert HARTREE_EV * E_CHARGE == pytest.approx(K_B_SI * HARTREE_OVER_K_B, rel=1e-11)
    assert K_B_SI / E_CHARGE == pytest.approx(K_B_EV, rel=1e-9)
    assert HARTREE_EV * E_CHARGE / BOHR_M == pytest.approx(AU_FORCE_N, rel=1e-10)
    assert BOHR_M / AU_TIME_S == pytest.approx(AU_VELOCITY_M_S, rel=1e-10)
    assert HARTREE_EV * E_CHARGE / BOHR_M**3 == pytest.approx(AU_PRESSURE_PA, rel=1e-10)
    assert CALORIE * 1e3 / N_AVOGADRO / E_CHARGE == pytest.approx(0.0433641042418, rel=1e-11)


def test_ase_time_unit_is_the_one_ase_uses():
    from ase import units as ase_units

    assert units.ASE_TIME == pytest.approx(1e-3 / ase_units.fs, rel=1e-12)
    assert units.ASE_VELOCITY * units.ASE_TIME == pytest.approx(1.0, rel=1e-15)


AU_P_BAR = AU_PRESSURE_PA * 1e-5
EXPECTED_TABLES = {  # every entry of every table of names, with its factor to eqt units written out
    "length": {"angstrom": 1.0, "ang": 1.0, "a": 1.0, "nm": 10.0, "nanometer": 10.0, "bohr": BOHR_M / ANGSTROM,
               "atomic_unit": BOHR_M / ANGSTROM, "au": BOHR_M / ANGSTROM, "meter": 1e10},
    "time": {"ps": 1.0, "picosecond": 1.0, "fs": 1e-3, "femtosecond": 1e-3, "ns": 1e3, "nanosecond": 1e3,
             "atomic_unit": AU_TIME_S / PS, "au": AU_TIME_S / PS, "ase": 0.01018050571, "second": 1e12, "s": 1e12},
    "energy": {"ev": 1.0, "electronvolt": 1.0, "hartree": HARTREE_EV, "atomic_unit": HARTREE_EV, "au": HARTREE_EV,
               "kcal/mol": 0.0433641042418, "kj/mol": 0.0103642696563, "rydberg": 13.605693122994, "mev": 1e-3,
               "millielectronvolt": 1e-3},
    "force": {"ev/angstrom": 1.0, "ev/ang": 1.0, "ev/a": 1.0, "atomic_unit": 51.4220674763,
              "au": 51.4220674763, "hartree/bohr": 51.4220674763, "kcal/mol/angstrom": 0.0433641042418,
              "kj/mol/nm": 0.00103642696563},
    "velocity": {"angstrom/ps": 1.0, "angstrom/picosecond": 1.0, "a/ps": 1.0, "angstrom/fs": 1e3, "a/fs": 1e3,
                 "angstrom/femtosecond": 1e3, "nm/ps": 10.0, "m/s": 1e-2, "atomic_unit": 21876.9126364,
                 "au": 21876.9126364, "ase": 1 / 0.01018050571},
    "temperature": {"kelvin": 1.0, "k": 1.0, "atomic_unit": HARTREE_OVER_K_B},
    "pressure": {"bar": 1.0, "atomic_unit": AU_P_BAR, "pascal": 1e-5, "gpa": 1e4, "megapascal": 10.0,
                 "atmosphere": 1.01325},
    "volume": {"angstrom3": 1.0, "atomic_unit": 0.148184711472},
}


@pytest.mark.parametrize("family", sorted(EXPECTED_TABLES))
def test_every_unit_name_converts_by_its_written_factor(family):
    table, eqt_unit = units.FAMILIES[family]
    assert set(table) == set(EXPECTED_TABLES[family]), "a unit name was added or removed: add its value here"
    for name, expected in EXPECTED_TABLES[family].items():
        rel = 1e-7 if name == "ase" else 1e-9  # ASE's unit uses CODATA 2014 amu and e
        assert units.factor(family, name.upper()) == pytest.approx(expected, rel=rel), (family, name)
    assert eqt_unit == {"length": "angstrom", "time": "picosecond", "energy": "electronvolt",
                        "force": "electronvolt/angstrom", "velocity": "angstrom/picosecond", "temperature": "kelvin",
                        "pressure": "bar", "volume": "angstrom^3"}[family]


@pytest.mark.parametrize("family, name, expected", [
    ("time", "attosecond", 1e-6),  # 1e-18 s in ps
    ("time", "microsecond", 1e6),
    ("energy", "millihartree", 1e-3 * HARTREE_EV),
    ("energy", "kiloelectronvolt", 1e3),
    ("pressure", "kilobar", 1e3),
    ("pressure", "megabar", 1e6),
    ("length", "picometer", 1e-2),
    ("length", "kilometer", 1e13),
])
def test_si_prefixes(family, name, expected):
    assert units.factor(family, name) == pytest.approx(expected, rel=1e-12)


def test_unknown_unit_is_refused():
    with pytest.raises(KeyError):
        units.factor("pressure", "psi")


def test_diffusion_constants():
    # 1 Å^2/ps = 1e-16 cm^2 / 1e-12 s = 1e-4 cm^2/s = 10 x (1e-5 cm^2/s)
    assert diffusion.ANGSTROM2_PER_PS_IN_1E5_CM2_PER_S == pytest.approx((ANGSTROM * 100) ** 2 / PS / 1e-5, rel=1e-14)
    assert diffusion.YEH_HUMMER_XI == pytest.approx(2.837297, abs=1e-6)  # Yeh & Hummer (2004), cubic


# ---------------------------------------------------------------- signals built in SI units
def _omega_per_ps(wavenumber_cm):
    """Angular frequency (rad/ps) of a wavenumber (cm^-1): 2 pi c nu~, c in cm/ps written out."""
    return 2 * np.pi * (C_LIGHT * 100 * PS) * wavenumber_cm


def _vdos(v, dt, masses=None, **params):
    """The VDOS result of atoms with velocities v (T, n, 3) Å/ps, all atoms one group."""
    ds = trajectory.build(np.zeros_like(v), np.full(v.shape[1], 18), velocities=v, masses=masses,
                          time=np.arange(len(v)) * dt)
    return VDOS(System.from_dataset(ds), {"all": np.arange(v.shape[1])}, **params).compute(ds).sel(species="all")


def test_vdos_axes_and_peaks_from_si_oscillators():
    dt = 0.002  # ps
    t = np.arange(8000) * dt
    freqs = np.array([500.0, 1650.0, 3400.0])  # cm^-1
    v = np.stack([np.cos(_omega_per_ps(f) * t) for f in freqs], axis=1)[:, :, None] * np.ones(3)
    res = _vdos(v, dt, n_blocks=4)
    nu, spec = res["frequency"].values, res["vdos"].values
    step = nu[1] - nu[0]
    # grid: rfft of the 2T - 1 long even extension, in cm^-1 with c written out
    assert step == pytest.approx(1 / ((2 * len(t) - 1) * dt) / (C_LIGHT * 100 * PS), rel=1e-12)
    np.testing.assert_allclose(res["frequency_THz"].values, nu * C_LIGHT * 100 * PS, rtol=1e-12)
    assert res.attrs["nyquist_cm"] == pytest.approx(0.5 / dt / (C_LIGHT * 100 * PS), rel=1e-12)  # 8339.3 cm^-1
    for f in freqs:
        near = np.abs(nu - f) < 100
        assert abs(nu[near][np.argmax(spec[near])] - f) <= step
    # Parseval: rectangle sum of the one-sided spectrum = VACF(0) = <v.v> = 3 x 1/2
    assert np.sum(spec) * step == pytest.approx(res["vacf"].values[0], rel=1e-6)
    assert res["vacf"].values[0] == pytest.approx(1.5, rel=2e-3)


def test_series_spectrum_peak_from_an_si_cosine():
    dt = 0.001
    t = np.arange(6000) * dt
    res = TCF("x", dt=dt).compute(xr.Dataset({"x": ("frame", np.cos(_omega_per_ps(1234.0) * t), {"units": "1"})}))
    nu, s = res["frequency"].values, res["spectrum"].values
    assert abs(nu[np.argmax(s)] - 1234.0) <= nu[1] - nu[0]
    np.testing.assert_allclose(res["frequency_THz"].values, nu * 0.0299792458, rtol=1e-12)


def test_mass_weighted_vacf_is_the_kinetic_energy_in_ev():
    """<m v.v> at lag 0, in eV, equals m v^2 computed in SI (kg, m/s, J) and divided by e; for
    Maxwell-Boltzmann velocities at 300 K it is 3 k_B T."""
    rng = np.random.default_rng(0)
    masses = np.array([15.999, 1.008, 1.008, 39.948])  # amu
    temperature = 300.0
    sigma_si = np.sqrt(K_B_SI * temperature / (masses * AMU_KG))  # m/s per component
    v_si = rng.normal(size=(4000, 4, 3)) * sigma_si[:, None]
    v = v_si * PS / ANGSTROM  # Å/ps
    res = _vdos(v, 0.001, masses, mass_weighted=True, n_blocks=4)
    by_hand = np.mean(np.sum(masses[:, None] * AMU_KG * v_si**2, axis=-1)) / E_CHARGE  # eV per atom
    assert res["vacf"].values[0] == pytest.approx(by_hand, rel=1e-9)
    assert res["vacf"].attrs["units"] == "electronvolt"
    assert by_hand == pytest.approx(3 * K_B_SI * temperature / E_CHARGE, rel=0.05)


def test_yeh_hummer_with_si_constants():
    """D + k_B T xi / (6 pi eta L): 298.15 K, 0.8903 mPa s, L = 18.6206 Å, by hand in SI."""
    cells = np.eye(3)[None] * 18.6206
    expected = K_B_SI * 298.15 * 2.837297 / (6 * np.pi * 0.8903e-3 * 18.6206e-10)  # m^2/s
    got = diffusion.yeh_hummer(0.1, 298.15, 0.8903, cells)
    assert got == pytest.approx(0.1 + expected / (ANGSTROM**2 / PS), rel=1e-8)
