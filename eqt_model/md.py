"""Pure, jitted molecular dynamics over any potential (jax-md style).

A *potential* is ``potential(positions, neighbors, key) -> (energy eV, forces (N, 3) eV/Å)``: ``neighbors`` is
an MD neighbour list (:class:`eqt_model.forcefield.NeighborList`, or None for potentials without one) and
``key`` a PRNG key (a random rotation draws from it; most potentials ignore it). :func:`from_energy` makes one
from any ``energy_fn(positions)``, forces by ``-grad``.

:func:`integrator` returns ``(init_fn, step_fn)``; ``step_fn(state, neighbors, key) -> (state, stale)`` makes
one (outer) step: velocity Verlet, optionally with a thermostat (:func:`svr`, :func:`langevin`) and multiple
time stepping (RESPA: a ``slow`` potential whose difference to the fast one kicks every k inner steps).
``stale`` is True when the neighbour list was invalid for a force evaluation of the step (an atom more than
half the skin from where it was built, or more pairs within the cutoff than its slots): the step must then be
redone with a fresh list. :func:`advance` runs up to n steps
inside one ``lax.while_loop`` and stops early, keeping the last good state, on a stale list or when the
dynamics blow up (a non-finite number, an atom moving more than ``MAX_MOVE`` Å in one step);
:func:`simulate` drives it from the host, rebuilding the list, and yields the state every ``block`` steps.

Random numbers of step s come from ``fold_in(key, s)`` (s = ``state.step``, counted in inner steps), so a run
does not depend on how it is cut into blocks, rebuilds or restarts.

Units: length Å, time ps, energy eV, mass amu, velocity Å/ps, force eV/Å, temperature as kT in eV.
"""
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from . import compiled

KB = 8.617333262e-5
"""Boltzmann constant, eV/K."""

# 1 amu Å²/ps² in eV: 1.66053906660e-27 kg * 1e-20 m² / 1e-24 s² / 1.602176634e-19 J/eV
MVV2E = 1.66053906660e-27 * 1e-20 / 1e-24 / 1.602176634e-19  # = 1.0364269652e-4 eV
"""Energy of mass*velocity² for 1 amu * (1 Å/ps)², in eV; ``E_kin[eV] = 0.5 * MVV2E * sum(m v²)``."""

MAX_MOVE = 1.0
"""Å: an atom moving farther in one (outer) step means the dynamics blew up."""

OK, STALE, UNSTABLE = 0, 1, 2


class MDState(NamedTuple):
    """Frozen MD state (a pytree).

    positions (N, 3) Å; velocities (N, 3) Å/ps; masses (N,) amu; forces (N, 3) eV/Å and energy (eV) of the
    (fast) potential; slow_forces, slow_energy: the multiple-time-step correction (slow - fast potential; zero
    without one); thermostat_work: eV of kinetic energy the thermostat has removed so far (negative when it
    has added energy); step: inner steps done (int).
    """
    positions: jax.Array
    velocities: jax.Array
    masses: jax.Array
    forces: jax.Array
    energy: jax.Array
    slow_forces: jax.Array
    slow_energy: jax.Array
    thermostat_work: jax.Array
    step: jax.Array


class Thermostat(NamedTuple):
    """``apply(velocities, masses, key, h) -> velocities`` over a time h (ps); ``middle``: apply it between the
    two half drifts of velocity Verlet (Langevin BAOAB) instead of around the step (SVR)."""
    apply: Callable
    middle: bool


def kinetic_energy(velocities, masses):
    """Kinetic energy, eV, of velocities (N, 3) Å/ps and masses (N,) amu."""
    return 0.5 * MVV2E * jnp.sum(masses[:, None] * velocities ** 2)


def degrees_of_freedom(n_atoms, fix_com=True):
    """3N - 3 when the centre-of-mass momentum is fixed at zero, otherwise 3N."""
    return 3 * n_atoms - (3 if fix_com else 0)


def temperature(velocities, masses, fix_com=True):
    """Instantaneous temperature, K: ``2 E_kin / (dof k_B)`` (dof from :func:`degrees_of_freedom`)."""
    return 2.0 * kinetic_energy(velocities, masses) / (degrees_of_freedom(masses.shape[0], fix_com) * KB)


def potential_energy(state):
    """Potential energy, eV, of the full potential (fast + multiple-time-step correction)."""
    return state.energy + state.slow_energy


def conserved(state):
    """``E_pot + E_kin + thermostat_work``, eV: constant along an exact trajectory of any integrator here."""
    return potential_energy(state) + kinetic_energy(state.velocities, state.masses) + state.thermostat_work


def remove_com_velocity(velocities, masses):
    """Velocities minus the centre-of-mass velocity."""
    return velocities - jnp.sum(masses[:, None] * velocities, axis=0) / jnp.sum(masses)


def maxwell_boltzmann(key, masses, kT, fix_com=True):
    """Velocities (N, 3) Å/ps drawn from Maxwell–Boltzmann at kT (eV) for masses (N,) amu.

    With ``fix_com`` the centre-of-mass velocity is subtracted (the sample then has 3N - 3 dof).
    """
    sigma = jnp.sqrt(kT / (MVV2E * masses))[:, None]
    v = sigma * jax.random.normal(key, (masses.shape[0], 3), dtype=sigma.dtype)
    return remove_com_velocity(v, masses) if fix_com else v


def from_energy(energy_fn):
    """A potential from ``energy_fn(positions) -> eV``: forces = -grad, neighbours and key unused."""
    value_and_grad = jax.value_and_grad(energy_fn)

    def potential(positions, neighbors=None, key=None):
        e, g = value_and_grad(positions)
        return e, -g
    return potential


def _accel(forces, masses):
    """Acceleration Å/ps² from forces eV/Å and masses amu."""
    return forces / (MVV2E * masses[:, None])


def svr(kT, tau, dof):
    """Stochastic velocity rescaling (Bussi, Donadio, Parrinello, J. Chem. Phys. 126, 014101 (2007)) at kT (eV)
    with relaxation time tau (ps) for ``dof`` kinetic degrees of freedom; applied for half a step before and
    after each step. Eq. (A7): alpha² = c + (1-c) K̄/(Nf K) (R1² + S) + 2 R1 sqrt(c (1-c) K̄/(Nf K)),
    c = exp(-h/tau), K̄ = Nf kT/2, R1 ~ N(0,1), S ~ chi²(Nf-1) = 2 Gamma((Nf-1)/2);
    sign(alpha) = sign(R1 + sqrt(c Nf K / ((1-c) K̄)))."""
    def apply(v, masses, key, h):
        k1, k2 = jax.random.split(key)
        kin = jnp.maximum(kinetic_energy(v, masses), jnp.finfo(v.dtype).tiny)
        target = 0.5 * dof * kT
        c = jnp.exp(-h / tau)
        r1 = jax.random.normal(k1, (), dtype=v.dtype)
        s = 2.0 * jax.random.gamma(k2, 0.5 * (dof - 1), dtype=v.dtype) if dof > 1 else jnp.zeros((), v.dtype)
        alpha2 = c + (1 - c) * target / (dof * kin) * (r1 ** 2 + s) + 2 * r1 * jnp.sqrt(c * (1 - c) * target / (dof * kin))
        alpha = jnp.sqrt(alpha2) * jnp.sign(r1 + jnp.sqrt(c * dof * kin / ((1 - c) * target)))
        return jnp.where(kinetic_energy(v, masses) > 0, alpha, 1.0) * v  # no direction to scale from rest
    return Thermostat(apply, middle=False)


def langevin(kT, gamma, fix_com=False):
    """Langevin thermostat at kT (eV), friction gamma (1/ps): the exact Ornstein–Uhlenbeck step
    v <- c v + sqrt((1-c²) kT/m) ξ, c = exp(-gamma h). Inside velocity Verlet it makes BAOAB (Leimkuhler &
    Matthews 2013); with multiple time stepping it acts for half an outer step before and after (OBABO, as
    i-PI). ``fix_com`` removes the centre-of-mass velocity the noise adds."""
    def apply(v, masses, key, h):
        c = jnp.exp(-gamma * h)
        v = c * v + jnp.sqrt((1 - c ** 2) * kT / (MVV2E * masses[:, None])) * jax.random.normal(key, v.shape, v.dtype)
        return remove_com_velocity(v, masses) if fix_com else v
    return Thermostat(apply, middle=True)


def _thermostat(state, thermostat, key, h):
    """Apply the thermostat over h (ps); the kinetic energy it takes goes to ``thermostat_work``."""
    v = thermostat.apply(state.velocities, state.masses, key, h)
    work = kinetic_energy(state.velocities, state.masses) - kinetic_energy(v, state.masses)
    return state._replace(velocities=v, thermostat_work=state.thermostat_work + work)


def stale(neighbors, positions):
    """Must the neighbour list be rebuilt before an evaluation at these positions (``neighbors.invalid``)?
    False without a list."""
    if neighbors is None:
        return jnp.zeros((), bool)
    return neighbors.invalid(positions)


def integrator(potential, dt, thermostat=None, slow=None, k=1):
    """Velocity Verlet with time step dt (ps); returns ``(init_fn, step_fn)``.

    ``init_fn(positions, velocities, masses, neighbors=None, key=None, step=0) -> MDState``;
    ``step_fn(state, neighbors, key) -> (state, stale)``. ``thermostat``: :func:`svr` or :func:`langevin` (NVT)
    or None (NVE). ``slow``: multiple time stepping (RESPA, Tuckerman et al. 1992): every step is k inner
    velocity-Verlet steps of dt with ``potential``, between two half kicks of k*dt with the correction
    ``slow - potential`` (both evaluated at the same positions; the fast forces there are reused). With slow
    equal to potential the correction is exactly zero and the run is plain velocity Verlet.
    """
    if slow is None and k != 1:
        raise ValueError("k inner steps need a slow potential")
    outer = k * dt

    def correction(x, neighbors, key, e_fast, f_fast):
        if slow is None:
            return jnp.zeros_like(e_fast), jnp.zeros_like(f_fast)
        e, f = slow(x, neighbors, key)
        return e - e_fast, f - f_fast

    def init_fn(positions, velocities, masses, neighbors=None, key=None, step=0):
        x = jnp.asarray(positions)
        key = jax.random.PRNGKey(0) if key is None else key
        e, f = potential(x, neighbors, key)
        es, fs = correction(x, neighbors, key, e, f)
        zero = jnp.zeros((), x.dtype)
        return MDState(x, jnp.asarray(velocities, x.dtype), jnp.asarray(masses, x.dtype), f, e, fs, es, zero,
                       jnp.asarray(step, jnp.int32))

    def inner(state, neighbors, key):
        """One velocity-Verlet step of dt with the fast potential (BAOAB when the thermostat sits in the middle)."""
        k_middle, k_force = jax.random.split(key)
        v = state.velocities + 0.5 * dt * _accel(state.forces, state.masses)
        if thermostat is not None and thermostat.middle and slow is None:
            x = state.positions + 0.5 * dt * v
            state = _thermostat(state._replace(velocities=v), thermostat, k_middle, dt)
            v = state.velocities
            x = x + 0.5 * dt * v
        else:
            x = state.positions + dt * v
        e, f = potential(x, neighbors, k_force)
        v = v + 0.5 * dt * _accel(f, state.masses)
        return state._replace(positions=x, velocities=v, forces=f, energy=e), stale(neighbors, x)

    def step_fn(state, neighbors, key):
        k_before, k_after, k_slow, k_inner = jax.random.split(key, 4)
        around = thermostat is not None and not (thermostat.middle and slow is None)
        if around:
            state = _thermostat(state, thermostat, k_before, 0.5 * outer)
        state = state._replace(velocities=state.velocities + 0.5 * outer * _accel(state.slow_forces, state.masses))

        def body(carry):
            s, i, _ = carry
            s, bad = inner(s, neighbors, jax.random.fold_in(k_inner, i))
            return s, i + 1, bad
        if k == 1:
            state, bad = inner(state, neighbors, k_inner)
        else:  # a stale inner step spoils the whole outer step: stop there
            state, _, bad = jax.lax.while_loop(lambda c: (c[1] < k) & ~c[2], body,
                                               (state, jnp.zeros((), jnp.int32), jnp.zeros((), bool)))
        if slow is None:
            es, fs = correction(state.positions, neighbors, k_slow, state.energy, state.forces)
        else:  # nor is the (expensive) slow potential evaluated for a step that will be redone
            es, fs = jax.lax.cond(bad, lambda *a: (jnp.zeros_like(state.energy), jnp.zeros_like(state.forces)),
                                  correction, state.positions, neighbors, k_slow, state.energy, state.forces)
        state = state._replace(velocities=state.velocities + 0.5 * outer * _accel(fs, state.masses),
                               slow_forces=fs, slow_energy=es, step=state.step + k)
        if around:
            state = _thermostat(state, thermostat, k_after, 0.5 * outer)
        return state, bad
    return init_fn, step_fn


@partial(compiled.jit, static_argnums=0)
def advance(step_fn, state, neighbors, key, n_steps):
    """Up to n_steps (outer) steps of ``step_fn`` in one ``lax.while_loop``; stops early on a stale neighbour
    list or unstable dynamics, keeping the last good state. Returns (state, steps done, status): status OK,
    STALE or UNSTABLE."""
    def finite(s):
        return (jnp.isfinite(potential_energy(s)) & jnp.all(jnp.isfinite(s.velocities))
                & jnp.all(jnp.isfinite(s.forces)) & jnp.all(jnp.isfinite(s.slow_forces)))

    def cond(carry):
        return (carry[1] < n_steps) & (carry[2] == OK)

    def body(carry):
        s, i, _ = carry
        new, bad = step_fn(s, neighbors, jax.random.fold_in(key, s.step))
        moved = jnp.max(jnp.sum((new.positions - s.positions) ** 2, axis=-1)) > MAX_MOVE ** 2
        status = jnp.where(bad, STALE, jnp.where(finite(new) & ~moved, OK, UNSTABLE))
        keep = status == OK
        s = jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), new, s)
        return s, i + keep.astype(i.dtype), status

    return jax.lax.while_loop(cond, body, (state, jnp.zeros((), jnp.int32), jnp.asarray(OK)))


class Unstable(Exception):
    """The dynamics blew up; ``state`` is the last good state."""

    def __init__(self, message, state):
        super().__init__(message)
        self.state = state


def simulate(step_fn, state, neighbors, key, n_steps, block, rebuild=None):
    """Run n_steps (outer) steps from the host, yielding ``(state, neighbors)`` after every ``block`` steps (the
    last block may be shorter). ``rebuild(positions, neighbors, more_slots=False) -> neighbors`` makes a fresh
    list at the current positions when the old one goes stale; while the next step is still invalid, again with
    twice the slots (the pairs within the cutoff may have grown by more than the few spare slots in one step),
    up to one slot per listed pair. Raises :class:`Unstable` when the dynamics blow up or a list is still
    invalid after that."""
    done = 0
    while done < n_steps:
        todo, tries = min(block, n_steps - done), 0
        while todo:
            state, n, status = advance(step_fn, state, neighbors, key, todo)
            n, status = int(n), int(status)
            todo, done = todo - n, done + n
            tries = tries if n == 0 else 0
            if status == UNSTABLE:
                raise Unstable("non-finite energy or forces, or an atom moved more than "
                               f"{MAX_MOVE} Å in one step", state)
            if status == STALE:
                full = neighbors is not None and neighbors.holds_all_pairs()
                if rebuild is None or (tries and full):
                    raise Unstable("a fresh neighbour list with all its pairs as slots was invalid after one step: "
                                   "an atom moved more than half the skin in one step (the dynamics blew up, or "
                                   "the skin is too small for the time step)", state)
                neighbors, tries = rebuild(state.positions, neighbors, more_slots=tries > 0), tries + 1
        yield state, neighbors
