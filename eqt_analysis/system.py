"""The System: what every analysis needs to know about a trajectory, taken from its first frame.

Atomic numbers, masses (amu), the first frame's positions (Å) and cell ((3, 3) Å, lattice
vectors as rows; None for an open system), pbc, the molecule index (the file's, or assigned
from bonds on first use) and the waters (O, H, H index triples, found on first use). Species
selections ("O,H") are parsed and checked here, once, with messages naming the file.
"""
import functools

import numpy as np
from ase.data import chemical_symbols

from . import molecules
from .errors import InputError
from .trajectory import species


class System:
    """Static description of a trajectory (from its first chunk, or any eqt Dataset)."""

    def __init__(self, numbers, positions, cell=None, pbc=(False, False, False), masses=None,
                 molecule=None, source=None):
        self.numbers = np.asarray(numbers)
        self.positions = np.asarray(positions, dtype=float)
        self.pbc = np.asarray(pbc, dtype=bool).reshape(3)
        self.cell = None if cell is None or not self.pbc.any() else np.asarray(cell, dtype=float)
        self.masses = None if masses is None else np.asarray(masses, dtype=float)
        self._molecule = None if molecule is None else np.asarray(molecule)
        self.source = source

    @classmethod
    def from_dataset(cls, ds, source=None):
        """The System of an eqt trajectory Dataset (its first frame)."""
        return cls(ds["atomic_number"].values, ds["positions"].isel(frame=0).values,
                   ds["cell"].isel(frame=0).values if "cell" in ds else None, ds["pbc"].values,
                   ds["mass"].values, ds["molecule"].values if "molecule" in ds else None,
                   source or ds.encoding.get("source"))

    @property
    def n_atoms(self):
        return len(self.numbers)

    @property
    def species(self):
        """Chemical symbols present, in order of first appearance (O, H for water)."""
        return species(self.numbers)

    @functools.cached_property
    def molecule(self):
        """Molecule index of every atom: the file's, or bonded groups of the first frame."""
        if self._molecule is not None:
            return self._molecule
        return molecules.assign(self.numbers, self.positions, self.cell, self.pbc)

    @functools.cached_property
    def waters(self):
        """(n_waters, 3) atom indices [O, H, H], each O with its two nearest H."""
        return molecules.find_waters(self.numbers, self.positions, self.cell, self.pbc)

    def require_waters(self, why=""):
        """The waters, or an InputError naming the file when there are none."""
        if len(self.waters) == 0:
            raise InputError("no water molecules (an O with its two nearest H) found" + (f"; {why}" if why else ""),
                             self.source)
        return self.waters

    def select(self, spec=None):
        """Symbols from a selection like 'O,H' (checked against the trajectory); None: all."""
        present = self.species
        if spec is None:
            return present
        wanted = [s.strip() for s in str(spec).split(",") if s.strip()]
        missing = [s for s in wanted if s not in present]
        if not wanted or missing:
            raise InputError(f"species {', '.join(missing) or repr(spec)} not in the trajectory "
                             f"({', '.join(present)})", self.source)
        return list(dict.fromkeys(wanted))

    def indices(self, symbol):
        """Atom indices of one species."""
        return np.flatnonzero(self.numbers == chemical_symbols.index(symbol))
