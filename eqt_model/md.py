"""Pure, jitted molecular-dynamics integrators over any energy function (jax-md style).

Every integrator returns ``(init_fn, step_fn)``: ``init_fn(positions, velocities, masses) -> MDState`` and
``step_fn(state) -> state`` (NVE) or ``step_fn(state, key) -> state`` (thermostats), shaped for
``lax.scan``; :func:`run` drives one for ``n_steps``.

``energy_fn(positions) -> scalar`` is any JAX function of positions (N, 3); forces are ``-grad`` of it,
taken in exactly one place (:func:`_energy_and_forces`).

Units: length Å, time ps, energy eV, mass amu, velocity Å/ps, force eV/Å, temperature as kT in eV.
"""
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

KB = 8.617333262e-5
"""Boltzmann constant, eV/K."""

# 1 amu Å²/ps² in eV: 1.66053906660e-27 kg * 1e-20 m² / 1e-24 s² / 1.602176634e-19 J/eV
MVV2E = 1.66053906660e-27 * 1e-20 / 1e-24 / 1.602176634e-19  # = 1.0364269652e-4 eV
"""Energy of mass*velocity² for 1 amu * (1 Å/ps)², in eV; ``E_kin[eV] = 0.5 * MVV2E * sum(m v²)``."""


class MDState(NamedTuple):
    """Frozen MD state (a pytree).

    positions (N, 3) Å; velocities (N, 3) Å/ps; forces (N, 3) eV/Å; energy: potential energy, eV;
    masses (N,) amu; thermostat_work: eV of kinetic energy the thermostat has removed so far
    (negative when it has added energy), so that ``energy + kinetic_energy + thermostat_work`` is conserved.
    """
    positions: jax.Array
    velocities: jax.Array
    forces: jax.Array
    energy: jax.Array
    masses: jax.Array
    thermostat_work: jax.Array


class Record(NamedTuple):
    """Per-sample energies from :func:`run`, each (n_samples,) in eV."""
    potential: jax.Array
    kinetic: jax.Array
    conserved: jax.Array


def kinetic_energy(velocities, masses):
    """Kinetic energy, eV, of velocities (N, 3) Å/ps and masses (N,) amu."""
    return 0.5 * MVV2E * jnp.sum(masses[:, None] * velocities ** 2)


def degrees_of_freedom(n_atoms, remove_com=True):
    """3N - 3 when the centre-of-mass momentum is fixed at zero (``remove_com``), otherwise 3N."""
    return 3 * n_atoms - (3 if remove_com else 0)


def temperature(velocities, masses, remove_com=True):
    """Instantaneous temperature, K: ``2 E_kin / (dof k_B)`` with dof = 3N - 3 if ``remove_com`` else 3N."""
    return 2.0 * kinetic_energy(velocities, masses) / (degrees_of_freedom(masses.shape[0], remove_com) * KB)


def conserved(state):
    """``E_pot + E_kin + thermostat_work``, eV: constant along an exact trajectory of any integrator here."""
    return state.energy + kinetic_energy(state.velocities, state.masses) + state.thermostat_work


def maxwell_boltzmann(key, masses, kT, remove_com=True):
    """Velocities (N, 3) Å/ps drawn from Maxwell–Boltzmann at kT (eV) for masses (N,) amu.

    With ``remove_com`` the centre-of-mass velocity is subtracted (the sample then has 3N - 3 dof).
    """
    sigma = jnp.sqrt(kT / (MVV2E * masses))[:, None]
    v = sigma * jax.random.normal(key, (masses.shape[0], 3), dtype=sigma.dtype)
    if remove_com:
        v = v - jnp.sum(masses[:, None] * v, axis=0) / jnp.sum(masses)
    return v


def _energy_and_forces(energy_fn):
    """(positions) -> (energy eV, forces eV/Å = -grad energy); the only place forces are computed."""
    value_and_grad = jax.value_and_grad(energy_fn)

    def fn(positions):
        e, g = value_and_grad(positions)
        return e, -g
    return fn


def _init(energy_and_forces):
    def init_fn(positions, velocities, masses):
        positions = jnp.asarray(positions)
        e, f = energy_and_forces(positions)
        return MDState(positions, jnp.asarray(velocities, positions.dtype), f, e,
                       jnp.asarray(masses, positions.dtype), jnp.zeros((), positions.dtype))
    return init_fn


def _accel(forces, masses):
    """Acceleration Å/ps² from forces eV/Å and masses amu."""
    return forces / (MVV2E * masses[:, None])


def _verlet(energy_and_forces, state, dt):
    """One velocity-Verlet step (kick dt/2, drift dt, new forces, kick dt/2)."""
    v = state.velocities + 0.5 * dt * _accel(state.forces, state.masses)
    x = state.positions + dt * v
    e, f = energy_and_forces(x)
    v = v + 0.5 * dt * _accel(f, state.masses)
    return state._replace(positions=x, velocities=v, forces=f, energy=e)


def velocity_verlet(energy_fn, dt):
    """NVE velocity Verlet with time step dt (ps). Returns ``(init_fn, step_fn(state))``."""
    ef = _energy_and_forces(energy_fn)
    return _init(ef), jax.jit(lambda state: _verlet(ef, state, dt))


def _svr_rescale(state, key, dt, kT, tau, dof):
    """Bussi–Donadio–Parrinello exact resampling of E_kin over time dt (ps) with relaxation time tau (ps).

    Bussi, Donadio, Parrinello, J. Chem. Phys. 126, 014101 (2007), eq. (A7):
    alpha² = c + (1-c) K̄/(Nf K) (R1² + S) + 2 R1 sqrt(c (1-c) K̄/(Nf K)), c = exp(-dt/tau), K̄ = Nf kT/2,
    R1 ~ N(0,1), S = sum_{i=2}^{Nf} R_i² ~ chi²(Nf-1) = 2 Gamma((Nf-1)/2);
    sign(alpha) = sign(R1 + sqrt(c Nf K / ((1-c) K̄))).
    """
    k1, k2 = jax.random.split(key)
    dtype = state.positions.dtype
    kin = jnp.maximum(kinetic_energy(state.velocities, state.masses), jnp.finfo(dtype).tiny)
    target = 0.5 * dof * kT
    c = jnp.exp(-dt / tau)
    r1 = jax.random.normal(k1, (), dtype=dtype)
    s = 2.0 * jax.random.gamma(k2, 0.5 * (dof - 1), dtype=dtype) if dof > 1 else jnp.zeros((), dtype)
    alpha2 = c + (1 - c) * target / (dof * kin) * (r1 ** 2 + s) + 2 * r1 * jnp.sqrt(c * (1 - c) * target / (dof * kin))
    alpha = jnp.sqrt(alpha2) * jnp.sign(r1 + jnp.sqrt(c * dof * kin / ((1 - c) * target)))
    return state._replace(velocities=alpha * state.velocities,
                          thermostat_work=state.thermostat_work + (1.0 - alpha2) * kin)


def svr(energy_fn, dt, kT, tau, dof=None):
    """Stochastic velocity rescaling (Bussi 2007), NVT at kT (eV), relaxation time tau (ps), step dt (ps).

    Each step is: SVR resampling over dt/2, one velocity-Verlet step, SVR resampling over dt/2.
    ``dof`` is the number of kinetic degrees of freedom; None means 3N - 3 (centre of mass fixed, as for
    velocities from ``maxwell_boltzmann(remove_com=True)``); pass 3N for a system in external wells.
    Returns ``(init_fn, step_fn(state, key))``.
    """
    ef = _energy_and_forces(energy_fn)

    def step_fn(state, key):
        nf = degrees_of_freedom(state.masses.shape[0]) if dof is None else dof
        k1, k2 = jax.random.split(key)
        state = _svr_rescale(state, k1, 0.5 * dt, kT, tau, nf)
        state = _verlet(ef, state, dt)
        return _svr_rescale(state, k2, 0.5 * dt, kT, tau, nf)
    return _init(ef), jax.jit(step_fn)


def langevin_baoab(energy_fn, dt, kT, gamma):
    """Langevin dynamics, BAOAB splitting (Leimkuhler & Matthews 2013), kT (eV), friction gamma (1/ps), dt (ps).

    B: kick dt/2; A: drift dt/2; O: exact Ornstein–Uhlenbeck over dt, v <- c v + sqrt((1-c²) kT/m) ξ with
    c = exp(-gamma dt); A: drift dt/2; new forces; B: kick dt/2. The kinetic energy changed by O is added
    to ``thermostat_work``. Returns ``(init_fn, step_fn(state, key))``.
    """
    ef = _energy_and_forces(energy_fn)

    def step_fn(state, key):
        m = state.masses[:, None]
        c = jnp.exp(-gamma * dt)
        v = state.velocities + 0.5 * dt * _accel(state.forces, state.masses)
        x = state.positions + 0.5 * dt * v
        k_before = kinetic_energy(v, state.masses)
        noise = jax.random.normal(key, v.shape, dtype=v.dtype)
        v = c * v + jnp.sqrt((1 - c ** 2) * kT / (MVV2E * m)) * noise
        work = state.thermostat_work + k_before - kinetic_energy(v, state.masses)
        x = x + 0.5 * dt * v
        e, f = ef(x)
        v = v + 0.5 * dt * _accel(f, state.masses)
        return state._replace(positions=x, velocities=v, forces=f, energy=e, thermostat_work=work)
    return _init(ef), jax.jit(step_fn)


@partial(jax.jit, static_argnums=(0, 2, 4))
def run(step_fn, state, n_steps, key=None, stride=1):
    """Run ``n_steps`` steps with ``lax.scan``; returns (final state, :class:`Record` every ``stride`` steps).

    ``key`` (a PRNG key) is required for stochastic step functions and must be None for NVE ones;
    ``n_steps`` must be a multiple of ``stride``. The record holds n_steps // stride samples, each taken
    after a block of ``stride`` steps.
    """
    if n_steps % stride:
        raise ValueError(f"n_steps={n_steps} is not a multiple of stride={stride}")

    def one(carry, _):
        s, k = carry
        if k is None:
            return (step_fn(s), None), None
        k, sub = jax.random.split(k)
        return (step_fn(s, sub), k), None

    def block(carry, _):
        carry, _ = jax.lax.scan(one, carry, None, length=stride)
        s = carry[0]
        kin = kinetic_energy(s.velocities, s.masses)
        return carry, Record(s.energy, kin, s.energy + kin + s.thermostat_work)

    (state, _), record = jax.lax.scan(block, (state, key), None, length=n_steps // stride)
    return state, record
