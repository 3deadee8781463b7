"""One MD run of eqt-md: the potentials of a force mode, the integrator, the neighbour list, trajectory frames
and checkpoints, from a structure and an eqt model or any ASE calculator. No files here: the command reads
the structure, writes the frames (eqt trajectory chunks) and saves the checkpoints (plain arrays).

Force modes (the study's): plain; averaged over a grid at every step; a fresh random rotation at every step;
multiple time stepping (``mts`` = k > 1): the plain model every inner step and the correction (averaged -
plain) every k-th. ``record`` evaluates the plain and the averaged model on each written frame.
"""
import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np

from eqt_analysis import trajectory
from eqt_analysis.errors import InputError

from . import averaging, compiled, forcefield, md, rotations



@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything that defines the dynamics (a restart must match it). Times in fs as given, temperature K."""
    dt: float = 0.5
    thermostat: str = "none"  # none (NVE), svr, langevin
    temperature: float = 300.0
    tau: float = 100.0  # fs: SVR relaxation time; Langevin friction 1/tau
    fix_com: bool = True
    seed: int = 0
    average: str | None = None  # grid name
    mts: int = 1
    random_rotation: bool = False
    skin: float = 1.0  # Å
    record: str | None = None  # grid name: plain and averaged energies on every frame
    record_forces: bool = False
    float64: bool = False
    memory: int = averaging.DEFAULT_MEMORY_MB  # MB: sizes the batches of rotations (and so the sums' order)
    model: str = ""  # what the forces come from (model file checksum or calculator factory)
    structure: str = ""  # the start structure (path and frame), or the restart's origin

    def dtype(self):
        return jnp.float64 if self.float64 else jnp.float32

    def describe(self):
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def mode(self):
        if self.random_rotation:
            return "random rotation every step" + (f", grid {self.average}" if self.average else "")
        if self.average and self.mts > 1:
            return f"multiple time stepping: plain every {self.dt:g} fs, grid {self.average} every {self.mts * self.dt:g} fs"
        return f"averaged on grid {self.average}" if self.average else "plain"


def _option(field):
    """The eqt-md option of a Settings field, for messages."""
    return {"dt": "--timestep", "model": "the model", "structure": "the start structure"}.get(
        field, "--" + field.replace("_", "-"))


def model_potentials(params, config, numbers, positions, cell, pbc, settings, source=None):
    """(fast, slow, record, cutoff) for an eqt model: the integrator's potential and MTS slow potential (or
    None), and the recording pair (plain, averaged) or None. Species unknown to the model are bad input (of
    `source`, the structure)."""
    known = {z: i for i, z in enumerate(config.species)}
    unknown = sorted(set(int(z) for z in numbers) - set(known))
    if unknown:
        raise InputError(f"species {unknown} unknown to the model (it knows {list(config.species)})", source)
    species = np.array([known[int(z)] for z in numbers])
    probe = forcefield.neighbor_list(positions, cell, pbc, config.cutoff, settings.skin)
    itemsize = 8 if settings.float64 else 4
    per_call = averaging.per_call(settings.memory, config, len(numbers), max(forcefield.slot_counts(probe)),
                                itemsize)  # as if every block had the most slots: an upper bound

    def potential(grid_name=None, random_rotation=False):
        grid = None if grid_name is None else rotations.grid(grid_name)
        return forcefield.model_potential(params, config, species, grid, random_rotation,
                                          averaging.rotations_per_step(len(numbers), len(grid.rotations), per_call)
                                          if grid else 1)
    return _modes(potential, settings) + (config.cutoff,)


def calculator_potentials(calculator, numbers, cell, pbc, settings):
    """(fast, slow, record, cutoff=None) for an ASE calculator (host callbacks)."""
    def potential(grid_name=None, random_rotation=False):
        grid = None if grid_name is None else rotations.grid(grid_name)
        return forcefield.calculator_potential(calculator, numbers, cell, pbc, grid, random_rotation)
    return _modes(potential, settings) + (None,)


def _modes(potential, settings):
    if settings.mts > 1:
        if not settings.average or settings.random_rotation:
            raise InputError("multiple time stepping (--mts) needs --average GRID (and no --random-rotation)")
        fast, slow = potential(), potential(settings.average)
    else:
        fast, slow = potential(settings.average, settings.random_rotation), None
    record = (potential(), potential(settings.record)) if settings.record else None
    return fast, slow, record


class Run:
    """An MD run: ``frames(n_steps, stride)`` yields trajectory chunks of one frame; ``checkpoint()`` the arrays
    for an exact restart (``Run(..., checkpoint=arrays)``).

    numbers, masses (N,) amu; positions (N, 3) Å; cell (3, 3) Å or None; pbc (3,); velocities (N, 3) Å/ps or
    None (Maxwell–Boltzmann at settings.temperature, seeded); potentials from model_potentials or
    calculator_potentials.
    """

    def __init__(self, settings, potentials, numbers, masses, positions, cell, pbc, velocities=None, checkpoint=None):
        self.settings = s = settings
        fast, slow, record, cutoff = potentials
        self.numbers, self.cell, self.pbc = np.asarray(numbers), cell, np.asarray(pbc, bool)
        dtype = s.dtype()
        masses = jnp.asarray(masses, dtype)
        self.dt_ps = s.dt * 1e-3
        self.dof = md.degrees_of_freedom(len(masses), s.fix_com)
        if self.dof <= 0:
            raise InputError("one atom with its centre of mass fixed cannot move (use --free-com)")
        kT = md.KB * s.temperature
        thermostat = {"none": None, "svr": lambda: md.svr(kT, s.tau * 1e-3, self.dof),
                      "langevin": lambda: md.langevin(kT, 1e3 / s.tau, s.fix_com)}[s.thermostat]
        self.init_fn, self.step_fn = md.integrator(fast, self.dt_ps, thermostat and thermostat(), slow, s.mts)
        self.key = jax.random.PRNGKey(s.seed)
        self.rebuild = None if cutoff is None else forcefield.rebuilder(cutoff, s.skin, self.pbc)
        if checkpoint is not None:
            self._restore(checkpoint, cutoff, dtype)
        else:
            positions = jnp.asarray(positions, dtype)
            self.neighbors = None if cutoff is None else forcefield.neighbor_list(positions, cell, pbc, cutoff, s.skin,
                                                                                  dtype=dtype)
            if velocities is None:
                velocities = md.maxwell_boltzmann(jax.random.fold_in(self.key, -1 % 2**31), masses, kT, s.fix_com)
            elif s.fix_com:
                velocities = md.remove_com_velocity(jnp.asarray(velocities, dtype), masses)
            self.state = compiled.jit(self.init_fn)(positions, velocities, masses, self.neighbors, self.key)  # compiled: op by op it cost ~800 small compilations
        self._record = None if record is None else compiled.jit(lambda x, nb: (record[0](x, nb, self.key),
                                                                          record[1](x, nb, self.key)))
        self.start_conserved = float(md.conserved(self.state)) if checkpoint is None else float(checkpoint["start_conserved"])

    def frames(self, n_steps, stride):
        """Run to inner step n_steps (from the current step), yielding a one-frame trajectory chunk every
        ``stride`` inner steps (both multiples of settings.mts). Raises md.Unstable on a blow-up."""
        k = self.settings.mts
        outer = (n_steps - int(self.state.step)) // k
        for self.state, self.neighbors in md.simulate(self.step_fn, self.state, self.neighbors, self.key, outer,
                                                      stride // k, self.rebuild):
            yield self.frame()

    def frame(self, state=None):
        """The state (default: the current one) as a one-frame eqt trajectory chunk."""
        s = self.state if state is None else state
        kinetic = float(md.kinetic_energy(s.velocities, s.masses))
        data = {"potential_energy": (float(md.potential_energy(s)), "electronvolt"),
                "kinetic_energy": (kinetic, "electronvolt"),
                "conserved_energy": (float(md.conserved(s)), "electronvolt"),
                "temperature": (2 * kinetic / (self.dof * md.KB), "kelvin")}
        atom_data = {}
        if self._record is not None:
            nb = self.neighbors  # valid at the current positions
            (e_plain, f_plain), (e_avg, f_avg) = self._record(s.positions, nb)
            data["energy_plain"] = (float(e_plain), "electronvolt")
            data["energy_averaged"] = (float(e_avg), "electronvolt")
            if self.settings.record_forces:
                atom_data["forces_plain"] = (np.asarray(f_plain, float)[None], "electronvolt/angstrom")
                atom_data["forces_averaged"] = (np.asarray(f_avg, float)[None], "electronvolt/angstrom")
        step = int(s.step)
        ds = trajectory.build(
            np.asarray(s.positions, float)[None], self.numbers, masses=np.asarray(s.masses, float),
            cell=None if self.cell is None else np.asarray(self.cell, float)[None], pbc=self.pbc,
            velocities=np.asarray(s.velocities, float)[None],
            forces=np.asarray(s.forces + s.slow_forces, float)[None], time=[step * self.dt_ps], step=[step],
            frame_data={name: (np.array([value]), unit) for name, (value, unit) in data.items()},
            atom_data=atom_data)
        if self._record is not None:
            label(ds, self.settings.record)
        return ds

    def checkpoint(self):
        """Plain arrays that restore this run exactly (the neighbour list is rebuilt from its reference)."""
        arrays = {f"state_{name}": np.asarray(value) for name, value in self.state._asdict().items()}
        if self.neighbors is not None:
            arrays["neighbors_reference"] = np.asarray(self.neighbors.reference)
            arrays["neighbors_capacity"] = np.asarray(self.neighbors.neighbors.shape[1])
            arrays["neighbors_slots"] = np.asarray(forcefield.slot_counts(self.neighbors))
        arrays["settings"] = np.asarray(self.settings.describe())
        arrays["numbers"] = self.numbers
        arrays["start_conserved"] = np.asarray(self.start_conserved)
        return arrays

    def _restore(self, arrays, cutoff, dtype):
        mine, theirs = json.loads(self.settings.describe()), json.loads(str(arrays["settings"]))
        defaults = dataclasses.asdict(Settings())  # fields added since the checkpoint was written
        differ = sorted(k for k in mine if mine[k] != theirs.get(k, defaults[k]))
        if differ or not np.array_equal(arrays["numbers"], self.numbers):
            what = ", ".join(f"{_option(k)} {theirs.get(k)!r} -> {mine[k]!r}" for k in differ) or "atoms"
            raise InputError(f"the checkpoint does not match this run ({what})")
        self.state = md.MDState(**{name: jnp.asarray(arrays[f"state_{name}"]) for name in md.MDState._fields})
        if self.state.positions.dtype != dtype:
            raise InputError("the checkpoint's precision differs from this run's")
        self.neighbors = None
        if cutoff is not None:
            self.neighbors = forcefield.neighbor_list(arrays["neighbors_reference"], self.cell, self.pbc, cutoff,
                                                      self.settings.skin, int(arrays["neighbors_capacity"]),
                                                      np.asarray(arrays["neighbors_slots"], int), dtype)


def label(ds, grid):
    """long_name and grid attributes of the recorded variables (eqt-rotvar finds the grid there)."""
    for name in ("energy", "forces"):
        if f"{name}_plain" in ds:
            ds[f"{name}_plain"].attrs.update(long_name=f"{name} of the plain model", grid="1")
            ds[f"{name}_averaged"].attrs.update(long_name=f"{name} of the model averaged on grid {grid}", grid=grid)


def replayer(record_potentials, cutoff, dtype):
    """``evaluate(positions, cell, pbc) -> ((E, F) plain, (E, F) averaged)`` of single frames, for --replay
    (jitted, in dtype; a fresh list per frame, no skin; its shapes only grow, so it recompiles rarely)."""
    plain, averaged = record_potentials
    key = jax.random.PRNGKey(0)
    both = compiled.jit(lambda x, nb: (plain(x, nb, key), averaged(x, nb, key)))
    shapes = {"capacity": 0, "slots": 0}

    def evaluate(positions, cell, pbc):
        nb = None
        if cutoff is not None:
            nb = forcefield.neighbor_list(positions, cell, pbc, cutoff, 0.0, shapes["capacity"], shapes["slots"], dtype)
            shapes.update(capacity=nb.neighbors.shape[1], slots=forcefield.slot_counts(nb))
        return both(jnp.asarray(positions, dtype), nb)
    return evaluate
