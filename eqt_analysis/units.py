"""Unit constants: the only place where eqt's conversion factors live.

eqt units in memory and in every output: length Å, time ps, energy eV, force eV/Å,
velocity Å/ps, mass amu (Da), temperature K. Readers and writers convert at the edge
with the factors below (CODATA 2018, the values used by current i-PI and ASE >= 3.23
for i-PI's atomic units; ASE's own time unit as ase.units defines it).
"""

# --- atomic units (Hartree) -> eqt units -------------------------------------------------
BOHR = 0.529177210903  # Å per bohr
HARTREE = 27.211386245988  # eV per hartree
AU_TIME = 2.4188843265857e-5  # ps per atomic unit of time
AU_FORCE = HARTREE / BOHR  # eV/Å per hartree/bohr
AU_VELOCITY = BOHR / AU_TIME  # Å/ps per bohr/aut
AU_MASS = 1.0 / 1822.888486209  # amu per electron mass
AU_TEMPERATURE = 315775.02480407  # K per hartree/k_B
AU_PRESSURE = HARTREE * 1.602176634e-19 / (BOHR * 1e-10) ** 3 * 1e-5  # bar per hartree/bohr^3
AU_VOLUME = BOHR**3  # Å^3 per bohr^3

# --- other conventions ----------------------------------------------------------------------
KJ_MOL = 1e3 / (6.02214076e23 * 1.602176634e-19)  # eV per kJ/mol (exact SI N_A and e)
KCAL_MOL = 4.184 * KJ_MOL  # eV per kcal/mol (thermochemical calorie)
FS = 1e-3  # ps per fs
INV_CM = 0.0299792458  # THz (1/ps) per cm^-1 (speed of light in cm/ps)
K_BOLTZMANN = 8.617333262e-5  # eV/K
AMU_A2_PS2 = 1.66053906660e-27 * 1e4 / 1.602176634e-19  # eV per amu Å^2/ps^2 (kinetic energy)

# ASE's internal time unit is Å·sqrt(amu/eV); one fs is ase.units.fs of them.
ASE_TIME = 1e-3 / 0.09822694788464063  # ps per ASE time unit (= 10.1805 fs)
ASE_VELOCITY = 1.0 / ASE_TIME  # Å/ps per ASE velocity unit Å/(ASE time)

# Names accepted in unit hints (extxyz `*_units=` keys, i-PI `{unit}` tags), with the factor
# to eqt units. Lower-case keys; look up with `.lower()`.
LENGTH = {"angstrom": 1.0, "ang": 1.0, "a": 1.0, "nm": 10.0, "nanometer": 10.0,
          "bohr": BOHR, "atomic_unit": BOHR, "au": BOHR, "meter": 1e10}
TIME = {"ps": 1.0, "picosecond": 1.0, "fs": FS, "femtosecond": FS, "ns": 1e3,
        "nanosecond": 1e3, "atomic_unit": AU_TIME, "au": AU_TIME, "ase": ASE_TIME,
        "second": 1e12, "s": 1e12}
ENERGY = {"ev": 1.0, "electronvolt": 1.0, "hartree": HARTREE, "atomic_unit": HARTREE,
          "au": HARTREE, "kcal/mol": KCAL_MOL, "kj/mol": KJ_MOL, "rydberg": HARTREE / 2,
          "mev": 1e-3, "millielectronvolt": 1e-3}
FORCE = {"ev/angstrom": 1.0, "ev/ang": 1.0, "ev/a": 1.0, "atomic_unit": AU_FORCE,
         "au": AU_FORCE, "hartree/bohr": AU_FORCE, "kcal/mol/angstrom": KCAL_MOL,
         "kj/mol/nm": KJ_MOL / 10.0}
VELOCITY = {"angstrom/ps": 1.0, "angstrom/picosecond": 1.0, "a/ps": 1.0,
            "angstrom/fs": 1.0 / FS, "a/fs": 1.0 / FS, "angstrom/femtosecond": 1.0 / FS,
            "nm/ps": 10.0, "m/s": 1e-2, "atomic_unit": AU_VELOCITY, "au": AU_VELOCITY,
            "ase": ASE_VELOCITY}
TEMPERATURE = {"kelvin": 1.0, "k": 1.0, "atomic_unit": AU_TEMPERATURE}
PRESSURE = {"bar": 1.0, "atomic_unit": AU_PRESSURE, "pascal": 1e-5, "gpa": 1e4,
            "megapascal": 10.0, "atmosphere": 1.01325}
VOLUME = {"angstrom3": 1.0, "atomic_unit": AU_VOLUME}

# Family name -> (table, eqt unit string written into outputs)
FAMILIES = {
    "length": (LENGTH, "angstrom"),
    "time": (TIME, "picosecond"),
    "energy": (ENERGY, "electronvolt"),
    "force": (FORCE, "electronvolt/angstrom"),
    "velocity": (VELOCITY, "angstrom/picosecond"),
    "temperature": (TEMPERATURE, "kelvin"),
    "pressure": (PRESSURE, "bar"),
    "volume": (VOLUME, "angstrom^3"),
}


def factor(family, unit):
    """Factor that converts a value in `unit` of `family` (e.g. 'energy') to eqt units.

    Accepts i-PI's SI prefixes on the base name (e.g. 'femtosecond', 'millielectronvolt').
    Raises KeyError for an unknown unit.
    """
    table = FAMILIES[family][0]
    key = unit.strip().lower()
    if key in table:
        return table[key]
    for prefix, scale in _PREFIXES.items():
        if key.startswith(prefix) and key[len(prefix):] in table:
            return scale * table[key[len(prefix):]]
    raise KeyError(f"unknown {family} unit {unit!r}")


_PREFIXES = {"kilo": 1e3, "milli": 1e-3, "micro": 1e-6, "nano": 1e-9, "pico": 1e-12,
             "femto": 1e-15, "atto": 1e-18, "mega": 1e6, "giga": 1e9}
