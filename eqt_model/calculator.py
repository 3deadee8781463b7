"""Using a trained eqt model: a Potential (plain, averaged or randomly rotated), an ASE calculator,
and any ASE calculator as an averaging evaluator (averaging module docstring)."""
import os

import jax
import jax.numpy as jnp
import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from eqt_analysis.errors import InputError

from . import averaging, data, model, modelfile, rotations
from . import neighbors as nbmod




class Potential:
    """A loaded model: `energy_and_forces(positions, cell, numbers, pbc)` in Å, eV, eV/Å.

    average: None (the plain model: the identity grid), a grid name of eqt_model.rotations
    ('2i', 'lebedev50', ...) or a rotations.Grid: the rotational average over it.
    random_rotation: a fresh uniformly random rotation (seeded by `seed`) at every call, the
    paper's "rnd" model (with `average`: the grid turned by it). memory: MB of work space for
    the rotations evaluated together (averaging.rotations_per_step). The model file is loaded once; its
    training record (split, errors, ...) is `training`. The neighbour list is rebuilt at every
    call (ASE's O(N) search, outside jit), the atoms in blocks of their own slot counts (graph).
    """

    def __init__(self, model_file, average=None, seed=0, memory=averaging.DEFAULT_MEMORY_MB, random_rotation=False):
        self.config, params, self.training = modelfile.load(model_file)
        self.source = str(model_file)
        self.memory = memory
        self.params = jax.tree_util.tree_map(jnp.asarray, params)
        self.capacity = 8
        self._slots = {}  # atom count -> slots of each block of atoms (graph)
        if isinstance(average, str):
            average = rotations.grid(average)
        self.grid = rotations.IDENTITY if average is None else average
        self.random_rotation = random_rotation
        evaluate = averaging.randomly_rotated(self.over_rotations, seed) if random_rotation else self.over_rotations
        self._energy_and_forces = averaging.average(evaluate, self.grid)

    def graph(self, positions, cell, numbers, pbc):
        """(Graph, order): the structure as the model's input, its atoms sorted by neighbour count in
        blocks of their own slot counts (data.block_neighbors, data.fractions_for: 1.3-1.8x faster than one
        block padded to the most crowded atom), and the input index of every graph atom (graph forces f give the
        input's forces[order] = f). Structures of fewer than data.BLOCK_FROM_ATOMS atoms are one block. For each
        atom count the blocks' slots only grow (neighbors.slots_for: tokens in multiples of 4), so jit
        recompiles rarely."""
        known = {z: i for i, z in enumerate(self.config.species)}
        unknown = sorted(set(int(z) for z in numbers) - set(known))
        if unknown:
            raise InputError(f"species {unknown} unknown to the model (it knows {list(self.config.species)})")
        if len(numbers) == 0:
            raise InputError("a structure without atoms")
        periodic = cell is not None and bool(np.any(pbc))
        if periodic and abs(np.linalg.det(cell)) < 1e-9:
            raise InputError("periodic structure with a degenerate (zero-volume) cell")
        data.check_geometry(positions, cell if periodic else None, pbc)
        nb = nbmod.build(positions, cell if periodic else None, pbc, self.config.cutoff, self.capacity, grow=True)
        self.capacity = nb.neighbors.shape[1]
        fractions = data.fractions_for(len(numbers))
        needed = data.slots_of_blocks(nb.mask[None], fractions)
        seen = self._slots.get(len(numbers))
        slots = needed if seen is None else np.maximum(seen, needed)
        self._slots[len(numbers)] = slots = tuple(int(k) for k in np.minimum(slots, self.capacity))
        order, blocks = data.block_neighbors(nbmod.Neighbors(*[a[None] for a in nb]), fractions, slots)
        order = order[0]
        dtype = jnp.result_type(float)
        species = np.array([known[int(z)] for z in numbers])[order]
        graph = model.Graph(jnp.asarray(np.asarray(positions)[order], dtype),
                            jnp.asarray(cell if periodic else np.zeros((3, 3)), dtype), jnp.asarray(species),
                            *(tuple(jnp.asarray(b[0], dtype if name == "shifts" else None) for b in field)
                              for name, field in zip(nbmod.Neighbors._fields, blocks)))
        return graph, order

    def over_rotations(self, positions, cell, numbers, pbc, rots):
        """The model as an averaging evaluator: energies (n,) and back-rotated forces (n, N, 3)
        of the structure under each rotation, float64 NumPy."""
        graph, order = self.graph(positions, cell, numbers, pbc)
        e, f = averaging.over_rotations(self.params, self.config, graph, rots, memory=self.memory)
        forces = np.empty(f.shape)
        forces[:, order] = f
        return e.astype(np.float64), forces

    @property
    def dtype(self):
        """'float32' or 'float64': the precision the model computes in (JAX's x64 setting when it was
        loaded); results are returned as float64 either way."""
        return str(jax.tree_util.tree_leaves(self.params)[0].dtype)

    def energy_and_forces(self, positions, cell, numbers, pbc=(True, True, True)):
        """(energy eV, forces (N, 3) eV/Å) as NumPy float64, averaged and rotated as configured."""
        return self._energy_and_forces(positions, cell, numbers, pbc)

    def test_split(self, n_structures, source=None):
        """Indices of the structures the model held out for testing, in its training file of
        n_structures structures (`source`: that file's path)."""
        return held_out(self.training, n_structures, source, self.source)


def held_out(training, n_structures, path=None, model=None):
    """Indices of the structures a model (training metadata `training`, from file `model`) held out
    for testing, in the file `path` of n_structures structures: InputError unless that file is the
    one it was trained on (same SHA-256 where the model records it; the split fits)."""
    if "split" not in training:
        raise InputError("the model file records no split", model)
    keep = np.asarray(training["split"]["test"], int)
    if keep.size == 0 or keep.max() >= n_structures:
        raise InputError("the model's test split does not fit this file (another dataset?)", path)
    if path is not None and training.get("data_sha256") and os.path.isfile(path):
        if modelfile.sha256_hex(path) != training["data_sha256"]:
            raise InputError("is not the file the model was trained on (another checksum): its test split "
                                 "(--test-split) names structures of that file", path)
    return keep


def ase_evaluator(calculator):
    """Any ASE calculator as an averaging evaluator (one rotated copy after the other)."""
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


class EQTCalculator(Calculator):
    """ASE calculator for an eqt model file (energy and forces), for ASE's MD, optimizers, ...

    average, seed, memory, random_rotation: as for Potential.
    Example: atoms.calc = EQTCalculator("model.pkl", average="2i"); atoms.get_forces()
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, model_file, average=None, seed=0, memory=averaging.DEFAULT_MEMORY_MB, random_rotation=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.potential = Potential(model_file, average, seed, memory, random_rotation)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        cell = self.atoms.cell.array if self.atoms.pbc.any() else None
        e, f = self.potential.energy_and_forces(self.atoms.positions, cell, self.atoms.numbers, self.atoms.pbc)
        self.results = {"energy": e, "free_energy": e, "forces": f}
