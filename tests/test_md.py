"""eqt_model.md: NVE energy conservation (Δt²), agreement with ASE's VelocityVerlet, canonical kinetic-energy
statistics of SVR and Langevin-BAOAB, and the SVR conserved quantity. All in float64."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqt_model import md

EPS, SIG, MASS = 0.0104, 3.4, 39.948  # argon-like Lennard-Jones: eV, Å, amu


@pytest.fixture(autouse=True, scope="module")
def x64():
    """float64 inside this module only (restored afterwards)."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def lj(x):
    """Lennard-Jones energy, eV, of positions (N, 3) Å; no cutoff, no cell."""
    n = x.shape[0]
    eye = jnp.eye(n, dtype=bool)
    r2 = jnp.sum((x[:, None, :] - x[None, :, :]) ** 2, -1) + eye
    s6 = (SIG ** 2 / r2) ** 3
    return 0.5 * jnp.sum(jnp.where(eye, 0.0, 4 * EPS * (s6 ** 2 - s6)))


def lj_numpy(x):
    """The same potential in NumPy: (energy eV, forces eV/Å)."""
    d = x[:, None, :] - x[None, :, :]
    r2 = np.sum(d ** 2, -1) + np.eye(len(x))
    s6 = (SIG ** 2 / r2) ** 3
    np.fill_diagonal(s6, 0.0)
    energy = 0.5 * np.sum(4 * EPS * (s6 ** 2 - s6))
    f_over_r2 = 24 * EPS * (2 * s6 ** 2 - s6) / r2  # -dU/dr / r
    return energy, np.sum(f_over_r2[:, :, None] * d, axis=1)


def cluster(n_side=3, seed=0, temperature=30.0):
    """Slightly perturbed simple-cubic LJ cluster with Maxwell–Boltzmann velocities (COM removed)."""
    g = np.arange(n_side) * 2 ** (1 / 6) * SIG
    pos = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    pos = pos + np.random.default_rng(seed).normal(scale=0.05, size=pos.shape)
    masses = jnp.full(len(pos), MASS)
    v = md.maxwell_boltzmann(jax.random.PRNGKey(seed), masses, md.KB * temperature)
    return jnp.asarray(pos), v, masses


def test_units_and_helpers():
    import ase.units
    assert md.MVV2E == pytest.approx(1.0364269652e-4, rel=1e-10)
    # ASE time unit is Å sqrt(amu/eV) = sqrt(MVV2E) ps; ASE's CODATA version differs in the 8th digit
    assert 1000 * ase.units.fs == pytest.approx(1 / np.sqrt(md.MVV2E), rel=1e-7)
    pos, v, m = cluster()
    assert np.allclose(np.sum(m[:, None] * v, 0), 0.0, atol=1e-12)
    assert float(md.temperature(v, m)) == pytest.approx(2 * float(md.kinetic_energy(v, m)) / (78 * md.KB))
    e, f = md._energy_and_forces(lj)(pos)
    e_np, f_np = lj_numpy(np.asarray(pos))
    assert float(e) == pytest.approx(e_np, rel=1e-12)
    np.testing.assert_allclose(f, f_np, atol=1e-12)


def test_nve_energy_error_scales_as_dt_squared():
    pos, v, m = cluster()
    total_time, errors = 4.0, []  # ps
    for dt in (0.008, 0.004):
        init, step = md.velocity_verlet(lj, dt)
        state = init(pos, v, m)
        n = int(round(total_time / dt))
        final, rec = md.run(step, state, n, stride=n // 200)
        dev = np.asarray(rec.conserved) - float(md.conserved(state))
        errors.append(np.max(np.abs(dev)))
        assert np.all(np.isfinite(dev))
    kinetic = float(md.kinetic_energy(v, m))
    assert errors[1] < 1e-3 * kinetic, errors
    ratio = errors[0] / errors[1]
    print(f"NVE max |ΔE| {errors} eV, ratio {ratio:.3f}")
    assert 3.0 < ratio < 5.0, ratio


def test_velocity_verlet_matches_ase():
    import ase
    import ase.units
    from ase.calculators.calculator import Calculator, all_changes
    from ase.md.verlet import VelocityVerlet

    class LJ(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            e, f = lj_numpy(self.atoms.positions)
            self.results = {"energy": e, "forces": f}

    pos, v, m = cluster(seed=1)
    dt, n = 0.005, 100  # ps
    ps = 1000 * ase.units.fs  # 1 ps in ASE time units (Å sqrt(amu/eV))
    atoms = ase.Atoms("Ar" * len(pos), positions=np.asarray(pos), masses=np.asarray(m))
    atoms.set_velocities(np.asarray(v) / ps)  # Å/ps -> Å per ASE time unit
    atoms.calc = LJ()
    dyn = VelocityVerlet(atoms, timestep=dt * ps)

    # our units use MVV2E (CODATA 2018); ASE's time unit differs in the 8th digit, so run eqt with the
    # time step and velocities expressed through ASE's own unit: dt_eqt = dt*ps*sqrt(MVV2E) ps
    scale = ps * np.sqrt(md.MVV2E)
    init, step = md.velocity_verlet(lj, dt * scale)
    state = init(pos, v / scale, m)
    worst_x = worst_v = 0.0
    for _ in range(n):
        dyn.run(1)
        state = step(state)
        worst_x = max(worst_x, np.max(np.abs(np.asarray(state.positions) - atoms.positions)))
        v_ase = atoms.get_velocities() / np.sqrt(md.MVV2E)  # Å/ASE-time -> Å/ps
        worst_v = max(worst_v, np.max(np.abs(np.asarray(state.velocities) - v_ase)))
    print(f"ASE vs eqt over {n} steps: max |Δx| {worst_x:.2e} Å, max |Δv| {worst_v:.2e} Å/ps")
    assert worst_x < 1e-10 and worst_v < 1e-10
    assert float(state.energy) == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
    moved = np.max(np.abs(np.asarray(state.positions - pos)))
    assert moved > 0.05  # the comparison is not trivially static


N_OSC = 200
_rng = np.random.default_rng(0)
OSC_MASS = _rng.uniform(1.0, 16.0, N_OSC)  # amu
OSC_OMEGA = _rng.uniform(20.0, 60.0, (N_OSC, 3))  # rad/ps, distinct per coordinate
OSC_K = OSC_OMEGA ** 2 * OSC_MASS[:, None] * md.MVV2E  # eV/Å²
KT = md.KB * 300.0


def harmonic(x):
    """200 independent anisotropic 3D harmonic wells at the origin, eV."""
    return 0.5 * jnp.sum(OSC_K * x ** 2)


@pytest.mark.parametrize("thermostat", ["svr", "langevin"])
def test_canonical_kinetic_energy(thermostat):
    dt, n = 0.002, 20000  # ps; omega_max*dt = 0.12 keeps the Verlet bias on <v²> below ~0.4%
    if thermostat == "svr":
        init, step = md.svr(harmonic, dt, KT, tau=0.01, dof=3 * N_OSC)  # external wells: 3N dof
    else:
        init, step = md.langevin_baoab(harmonic, dt, KT, gamma=50.0)
    # start from the canonical distribution (a global thermostat mixes independent oscillators only slowly)
    rng = np.random.default_rng(1)
    x0 = rng.normal(size=(N_OSC, 3)) * np.sqrt(KT / OSC_K)
    m = jnp.asarray(OSC_MASS)
    v0 = md.maxwell_boltzmann(jax.random.PRNGKey(2), m, KT, remove_com=False)
    _, rec = md.run(step, init(x0, v0, m), n, jax.random.PRNGKey(3))
    k = np.asarray(rec.kinetic)
    mean, var = 1.5 * N_OSC * KT, 1.5 * N_OSC * KT ** 2  # (3N/2) kT, (3N/2) (kT)²
    blocks = k.reshape(50, -1)
    se_mean = blocks.mean(1).std() / np.sqrt(50) / mean
    se_var = ((k - k.mean()) ** 2).reshape(50, -1).mean(1).std() / np.sqrt(50) / var
    dm, dv = k.mean() / mean - 1, k.var() / var - 1
    print(f"{thermostat}: <K>/exact-1 = {dm:+.4f} (SE {se_mean:.4f}), var(K)/exact-1 = {dv:+.4f} (SE {se_var:.4f})")
    assert abs(dm) < 0.01 and abs(dv) < 0.06, (dm, dv)
    assert se_mean < 0.005 and se_var < 0.03  # the statistics resolve those tolerances


def test_svr_conserved_quantity():
    pos, v, m = cluster(seed=2, temperature=20.0)
    init, step = md.svr(lj, 0.004, md.KB * 60.0, tau=0.2)  # heats the cluster from 20 K towards 60 K
    state = init(pos, v, m)
    final, rec = md.run(step, state, 1500, jax.random.PRNGKey(5), stride=5)
    dev = np.asarray(rec.conserved) - float(md.conserved(state))
    work = float(final.thermostat_work)
    print(f"SVR: thermostat work {work:.4e} eV, max |Δ(E+K+W)| {np.max(np.abs(dev)):.2e} eV, "
          f"final T {float(md.temperature(final.velocities, m)):.1f} K")
    assert work < -0.05  # the thermostat did add a lot of energy ...
    assert np.max(np.abs(dev)) < 1e-3 * abs(work)  # ... and E + K + W stayed constant
    assert abs(dev[-1] - dev[len(dev) // 2]) < 1e-3 * abs(work)  # no drift in the second half
