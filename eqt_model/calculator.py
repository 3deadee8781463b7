"""Using a trained eqt model: a jitted energy/forces function and an ASE calculator."""
import jax
import jax.numpy as jnp
import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from eqt_analysis.errors import InputError

from . import averaging, model, modelfile, rotations
from . import neighbors as nbmod


class Potential:
    """A loaded model: `energy_and_forces(positions, cell, numbers, pbc)` in Å, eV, eV/Å.

    average: None (the plain model), a grid name of eqt_model.rotations ('2i', 'lebedev50',
    ...: the rotational average, with the spread over rotations in `last_spread`), or
    'random' (a fresh uniformly random rotation at every call, the paper's "rnd" model).
    memory: MB of work space for the batched rotations of one call (averaging.per_call).
    The neighbour list is rebuilt at every call (ASE's O(N) search, outside jit); its padded
    capacity only grows (rounded up to multiples of 8), so jit recompiles rarely.
    """

    def __init__(self, model_file, average=None, seed=0, memory=averaging.DEFAULT_MEMORY_MB):
        self.config, params, self.training = modelfile.load(model_file)
        self.memory = memory
        self.params = jax.tree_util.tree_map(jnp.asarray, params)
        self.capacity = 8
        self._function = jax.jit(model.energy_and_forces, static_argnums=1)
        self.average = average
        self._rng = np.random.default_rng(seed)
        self.last_spread = None
        if average not in (None, "random"):
            self.rotations, self.weights = rotations.grid(average, seed)

    def graph(self, positions, cell, numbers, pbc):
        known = {z: i for i, z in enumerate(self.config.species)}
        unknown = sorted(set(int(z) for z in numbers) - set(known))
        if unknown:
            raise InputError(f"species {unknown} unknown to the model (it knows {list(self.config.species)})")
        periodic = cell is not None and bool(np.any(pbc))
        if periodic and abs(np.linalg.det(cell)) < 1e-9:
            raise InputError("periodic structure with a degenerate (zero-volume) cell")
        count = nbmod.count_max(positions, cell if periodic else None, pbc if periodic else False, self.config.cutoff)
        if count > self.capacity:
            self.capacity = nbmod.capacity_for(count)
        nb = nbmod.build(positions, cell if periodic else None, pbc, self.config.cutoff, self.capacity)
        dtype = jnp.result_type(float)
        return model.Graph(jnp.asarray(positions, dtype), jnp.asarray(cell if periodic else np.zeros((3, 3)), dtype),
                           jnp.asarray([known[int(z)] for z in numbers]), jnp.asarray(nb.neighbors),
                           jnp.asarray(nb.shifts, dtype), jnp.asarray(nb.mask), jnp.asarray(nb.reverse))

    def energy_and_forces(self, positions, cell, numbers, pbc=(True, True, True)):
        """(energy eV, forces (N, 3) eV/Å) as NumPy float64."""
        graph = self.graph(positions, cell, numbers, pbc)
        if self.average is None:
            e, f = self._function(self.params, self.config, graph)
            return float(e), np.asarray(f, dtype=np.float64)
        if self.average == "random":
            rot, _ = rotations.random_grid(1, self._rng)
            e, f = averaging.over_rotations(self.params, self.config, graph, rot, memory=self.memory)
            return float(e[0]), np.asarray(f[0], dtype=np.float64)
        e, f = averaging.over_rotations(self.params, self.config, graph, self.rotations, memory=self.memory)
        e_avg, f_avg, e_std, f_std = averaging.averaged(e, f, self.weights)
        self.last_spread = (e_std, f_std)
        return e_avg, f_avg


class EQTCalculator(Calculator):
    """ASE calculator for an eqt model file (energy and forces), for ASE's MD, optimizers, ...

    average: None, a rotation grid name (e.g. '2i') or 'random'; memory: MB of work space (see Potential).
    Example: atoms.calc = EQTCalculator("model.pkl", average="2i"); atoms.get_forces()
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, model_file, average=None, seed=0, memory=averaging.DEFAULT_MEMORY_MB, **kwargs):
        super().__init__(**kwargs)
        self.potential = Potential(model_file, average, seed, memory)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        cell = self.atoms.cell.array if self.atoms.pbc.any() else None
        e, f = self.potential.energy_and_forces(self.atoms.positions, cell, self.atoms.numbers, self.atoms.pbc)
        self.results = {"energy": e, "free_energy": e, "forces": f}
