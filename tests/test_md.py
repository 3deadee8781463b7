"""eqt_model.md: NVE energy conservation (Δt²), agreement with ASE's VelocityVerlet, canonical kinetic-energy
statistics of SVR and Langevin-BAOAB, conserved quantities with thermostats and multiple time stepping, the
skin neighbour list against a dense reference. All in float64."""
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


def record(step_fn, state, n, key=None, stride=1, neighbors=None, rebuild=None):
    """Run n steps; (final state, potential, kinetic, conserved energies every stride steps, eV)."""
    key = jax.random.PRNGKey(0) if key is None else key
    rows = []
    for state, neighbors in md.simulate(step_fn, state, neighbors, key, n, stride, rebuild):
        rows.append((float(md.potential_energy(state)), float(md.kinetic_energy(state.velocities, state.masses)),
                     float(md.conserved(state))))
    return state, *np.array(rows).T


def test_units_and_helpers():
    import ase.units
    assert md.MVV2E == pytest.approx(1.0364269652e-4, rel=1e-10)
    # ASE time unit is Å sqrt(amu/eV) = sqrt(MVV2E) ps; ASE's CODATA version differs in the 8th digit
    assert 1000 * ase.units.fs == pytest.approx(1 / np.sqrt(md.MVV2E), rel=1e-7)
    pos, v, m = cluster()
    assert np.allclose(np.sum(m[:, None] * v, 0), 0.0, atol=1e-12)
    assert float(md.temperature(v, m)) == pytest.approx(2 * float(md.kinetic_energy(v, m)) / (78 * md.KB))
    e, f = md.from_energy(lj)(pos)
    e_np, f_np = lj_numpy(np.asarray(pos))
    assert float(e) == pytest.approx(e_np, rel=1e-12)
    np.testing.assert_allclose(f, f_np, atol=1e-12)


def test_nve_energy_error_scales_as_dt_squared():
    pos, v, m = cluster()
    total_time, errors = 4.0, []  # ps
    for dt in (0.008, 0.004):
        init, step = md.integrator(md.from_energy(lj), dt)
        state = init(pos, v, m)
        n = int(round(total_time / dt))
        _, _, _, conserved = record(step, state, n, stride=n // 200)
        dev = conserved - float(md.conserved(state))
        errors.append(np.max(np.abs(dev)))
        assert np.all(np.isfinite(dev))
    kinetic = float(md.kinetic_energy(v, m))
    assert errors[1] < 1e-3 * kinetic, errors
    ratio = errors[0] / errors[1]
    print(f"NVE max |ΔE| {errors} eV, ratio {ratio:.3f}")
    assert 3.0 < ratio < 5.0, ratio


class LJCalculator:
    """lj_numpy as an ASE calculator."""

    def __new__(cls):
        from ase.calculators.calculator import Calculator, all_changes

        class LJ(Calculator):
            implemented_properties = ["energy", "forces"]

            def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
                super().calculate(atoms, properties, system_changes)
                e, f = lj_numpy(self.atoms.positions)
                self.results = {"energy": e, "forces": f}
        return LJ()


@pytest.mark.parametrize("engine", ["jax", "calculator"])
def test_velocity_verlet_matches_ase(engine):
    """eqt's jitted Verlet (on the JAX potential, or on the ASE calculator through the host callback) and ASE's
    VelocityVerlet step for step."""
    import ase
    import ase.units
    from ase.md.verlet import VelocityVerlet

    from eqt_model import forcefield

    pos, v, m = cluster(seed=1)
    dt, n = 0.005, 100  # ps
    ps = 1000 * ase.units.fs  # 1 ps in ASE time units (Å sqrt(amu/eV))
    atoms = ase.Atoms("Ar" * len(pos), positions=np.asarray(pos), masses=np.asarray(m))
    atoms.set_velocities(np.asarray(v) / ps)  # Å/ps -> Å per ASE time unit
    atoms.calc = LJCalculator()
    dyn = VelocityVerlet(atoms, timestep=dt * ps)

    # our units use MVV2E (CODATA 2018); ASE's time unit differs in the 8th digit, so run eqt with the
    # time step and velocities expressed through ASE's own unit: dt_eqt = dt*ps*sqrt(MVV2E) ps
    scale = ps * np.sqrt(md.MVV2E)
    potential = (md.from_energy(lj) if engine == "jax" else
                 forcefield.calculator_potential(LJCalculator(), atoms.numbers, None, [False] * 3))
    init, step = md.integrator(potential, dt * scale)
    state = init(pos, v / scale, m)
    worst_x = worst_v = 0.0
    for _ in range(n):
        dyn.run(1)
        state, _ = step(state, None, jax.random.PRNGKey(0))
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


@pytest.mark.parametrize("kind", ["svr", "langevin"])
def test_canonical_kinetic_energy(kind):
    dt, n = 0.002, 20000  # ps; omega_max*dt = 0.12 keeps the Verlet bias on <v²> below ~0.4%
    # external wells: 3N dof
    thermostat = md.svr(KT, tau=0.01, dof=3 * N_OSC) if kind == "svr" else md.langevin(KT, gamma=50.0)
    init, step = md.integrator(md.from_energy(harmonic), dt, thermostat)
    # start from the canonical distribution (a global thermostat mixes independent oscillators only slowly)
    rng = np.random.default_rng(1)
    x0 = rng.normal(size=(N_OSC, 3)) * np.sqrt(KT / OSC_K)
    m = jnp.asarray(OSC_MASS)
    v0 = md.maxwell_boltzmann(jax.random.PRNGKey(2), m, KT, fix_com=False)
    _, _, k, _ = record(step, init(x0, v0, m), n, jax.random.PRNGKey(3), stride=2)
    mean, var = 1.5 * N_OSC * KT, 1.5 * N_OSC * KT ** 2  # (3N/2) kT, (3N/2) (kT)²
    blocks = k.reshape(50, -1)
    se_mean = blocks.mean(1).std() / np.sqrt(50) / mean
    se_var = ((k - k.mean()) ** 2).reshape(50, -1).mean(1).std() / np.sqrt(50) / var
    dm, dv = k.mean() / mean - 1, k.var() / var - 1
    print(f"{kind}: <K>/exact-1 = {dm:+.4f} (SE {se_mean:.4f}), var(K)/exact-1 = {dv:+.4f} (SE {se_var:.4f})")
    assert abs(dm) < 0.01 and abs(dv) < 0.06, (dm, dv)
    assert se_mean < 0.005 and se_var < 0.03  # the statistics resolve those tolerances


@pytest.mark.parametrize("kind, mts", [("svr", False), ("langevin", False), ("svr", True), ("langevin", True)])
def test_thermostat_conserved_quantity(kind, mts):
    """E + K + thermostat work stays constant while the thermostat heats the cluster; with multiple time
    stepping (a slow tether every 5 steps, the thermostat around the outer step) too."""
    pos, v, m = cluster(seed=2, temperature=20.0)
    kT = md.KB * 60.0  # heats the cluster from 20 K towards 60 K
    thermostat = md.svr(kT, tau=0.2, dof=md.degrees_of_freedom(len(m))) if kind == "svr" else md.langevin(kT, 5.0, True)
    k = 5 if mts else 1
    slow = md.from_energy(lambda x: lj(x) + tether(x)) if mts else None
    init, step = md.integrator(md.from_energy(lj), 0.004, thermostat, slow, k)
    state = init(pos, v, m)
    final, _, _, conserved = record(step, state, 1500 // k, jax.random.PRNGKey(5), stride=5)
    dev = conserved - float(md.conserved(state))
    work = float(final.thermostat_work)
    print(f"{kind}: thermostat work {work:.4e} eV, max |Δ(E+K+W)| {np.max(np.abs(dev)):.2e} eV, "
          f"final T {float(md.temperature(final.velocities, m)):.1f} K")
    assert work < -0.05  # the thermostat did add a lot of energy ...
    assert np.max(np.abs(dev)) < 1e-3 * abs(work)  # ... and E + K + W stayed constant
    assert abs(dev[-1] - dev[len(dev) // 2]) < 1e-3 * abs(work)  # no drift in the second half
    if not mts:  # (the tether is an external force)
        momentum = np.sum(np.asarray(final.masses)[:, None] * np.asarray(final.velocities), axis=0)
        assert np.max(np.abs(momentum)) < 1e-9  # centre of mass stays at rest (SVR scales, Langevin projects)


def tether(x):
    """A weak, slowly varying harmonic tether of every atom to the cluster's start (the 'slow' force)."""
    return 0.5 * 0.002 * jnp.sum((x - START) ** 2)


START = cluster()[0]


def test_mts_with_zero_correction_is_velocity_verlet():
    pos, v, m = cluster(seed=3)
    fast = md.from_energy(lj)
    init, step = md.integrator(fast, 0.004)
    init_mts, step_mts = md.integrator(fast, 0.004, slow=fast, k=5)
    a, b = init(pos, v, m), init_mts(pos, v, m)
    key = jax.random.PRNGKey(0)
    for _ in range(20):
        for _ in range(5):
            a, _ = step(a, None, key)
        b, _ = step_mts(b, None, key)
        # the same arithmetic, compiled apart (XLA may fuse it differently): float64 rounding apart
        np.testing.assert_allclose(a.positions, b.positions, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.velocities, b.velocities, rtol=0, atol=1e-10)
    assert int(b.step) == 100 and abs(float(b.slow_energy)) < 1e-12
    assert np.max(np.abs(np.asarray(b.positions - pos))) > 0.05


def test_mts_conserves_its_energy():
    """RESPA with a slow tether kicked every 10 inner steps conserves E_fast + E_slow + K as well as plain
    Verlet on the sum (slow force every step) conserves its energy, and follows the same trajectory closely."""
    pos, v, m = cluster(seed=4)
    fast = md.from_energy(lj)
    full = md.from_energy(lambda x: lj(x) + tether(x))
    init, step = md.integrator(fast, 0.004, slow=full, k=10)
    state = init(pos, v, m)
    final, potential, _, conserved = record(step, state, 200, stride=5)
    dev = np.abs(conserved - float(md.conserved(state)))
    ref_init, ref_step = md.integrator(full, 0.004)
    ref_state = ref_init(pos, v, m)
    _, _, _, ref_conserved = record(ref_step, ref_state, 2000, stride=50)
    ref_dev = np.abs(ref_conserved - float(md.conserved(ref_state)))
    print(f"MTS max |ΔE| {dev.max():.2e} eV, plain Verlet {ref_dev.max():.2e} eV, potential range {np.ptp(potential):.2e}")
    assert float(state.slow_energy) == pytest.approx(float(tether(pos)), rel=1e-12)
    assert np.ptp(potential) > 50 * dev.max()  # energy flows between potential and kinetic, the sum does not
    assert dev.max() < 2 * ref_dev.max()
    assert abs(dev[-10:].mean() - dev[:10].mean()) < 0.5 * dev.max() + 1e-9  # no drift
    assert int(final.step) == 2000
    short = record(step, state, 10, stride=10)[0]  # 0.4 ps, before chaos separates the two
    short_ref = record(ref_step, ref_state, 100, stride=100)[0]
    assert np.max(np.abs(np.asarray(short.positions - short_ref.positions))) < 1e-4


def periodic_lj(box, cutoff):
    """LJ truncated at cutoff (shifted to zero there) in a cubic box, as a neighbour-list potential and as a
    dense minimum-image reference."""
    def pair(r2):
        s6 = (SIG ** 2 / r2) ** 3
        sc6 = (SIG / cutoff) ** 6
        return jnp.where(r2 < cutoff ** 2, 4 * EPS * (s6 ** 2 - s6 - sc6 ** 2 + sc6), 0.0)

    def listed(x, nb, key=None):
        d = x[nb.neighbors] - x[:, None, :] + nb.shifts @ nb.cell
        r2 = jnp.where(nb.mask, jnp.sum(d ** 2, -1), 4 * cutoff ** 2)
        return 0.5 * jnp.sum(pair(r2))

    def dense(x):
        d = x[None, :, :] - x[:, None, :]
        d = d - box * jnp.round(d / box)
        r2 = jnp.sum(d ** 2, -1) + jnp.eye(len(x)) * 4 * cutoff ** 2
        return 0.5 * jnp.sum(pair(r2))

    def with_grad(energy_fn):
        vg = jax.value_and_grad(energy_fn)

        def potential(x, nb, key):
            e, g = vg(x, nb) if energy_fn is listed else vg(x)
            return e, -g
        return potential
    return with_grad(listed), with_grad(dense)


def test_skin_list_matches_dense_reference():
    from eqt_model import forcefield
    n_side, a = 4, 1.6 * SIG
    box = n_side * a
    g = np.arange(n_side) * a
    pos = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    pos = pos + np.random.default_rng(5).normal(scale=0.1, size=pos.shape)
    m = jnp.full(len(pos), MASS)
    v = md.maxwell_boltzmann(jax.random.PRNGKey(6), m, md.KB * 300.0)  # hot: atoms cross the skin often
    cutoff, skin, cell, pbc = 2.5 * SIG, 0.5, np.eye(3) * box, [True] * 3
    listed, dense = periodic_lj(box, cutoff)
    nb = forcefield.neighbor_list(pos, cell, pbc, cutoff, skin)
    rebuilds = []

    def rebuild(x, old, more_slots=False):
        rebuilds.append(1)
        return forcefield.rebuilder(cutoff, skin, pbc)(x, old, more_slots)

    init, step = md.integrator(listed, 0.005)
    a_state = init(pos, v, m, nb)
    init_d, step_d = md.integrator(dense, 0.005)
    b_state = init_d(pos, v, m)
    runs = zip(md.simulate(step, a_state, nb, jax.random.PRNGKey(0), 400, 20, rebuild),
               md.simulate(step_d, b_state, None, jax.random.PRNGKey(0), 400, 20))
    worst = 0.0
    for (a_state, _), (b_state, _) in runs:
        worst = max(worst, float(np.max(np.abs(np.asarray(a_state.positions - b_state.positions)))))
    moved = float(np.max(np.linalg.norm(np.asarray(a_state.positions) - pos, axis=-1)))
    print(f"skin list vs dense: {len(rebuilds)} rebuilds, max |Δx| {worst:.1e} Å, max displacement {moved:.2f} Å")
    assert len(rebuilds) >= 3 and moved > 2 * skin
    assert worst < 1e-12


def test_blow_up_stops_cleanly():
    """Two atoms started on top of each other: the run stops with the last finite state, not with NaN."""
    pos = np.array([[0.0, 0.0, 0.0], [0.3, 0.0, 0.0], [5.0, 0.0, 0.0]])
    m = jnp.full(3, MASS)
    init, step = md.integrator(md.from_energy(lj), 0.001)
    state = init(pos, np.zeros((3, 3)), m)
    with pytest.raises(md.Unstable) as err:
        record(step, state, 100)
    last = err.value.state
    assert np.all(np.isfinite(np.asarray(last.positions))) and np.isfinite(float(md.conserved(last)))


def test_slots_grow_when_many_pairs_enter_the_cutoff_at_once():
    """Nine atoms cross the cutoff of a tenth within one step: the list is rebuilt with more slots instead of
    the run stopping (or truncating)."""
    from eqt_model import forcefield
    cutoff, skin = 3.0, 1.0
    u = np.random.default_rng(7).normal(size=(9, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    pos = np.vstack([[0.0, 0.0, 0.0], 3.01 * u])
    v = np.vstack([[0.0, 0.0, 0.0], -u * 0.02 / 0.001])  # 0.02 Å inwards per 1 fs step
    m = jnp.full(10, MASS)
    nb = forcefield.neighbor_list(pos, None, [False] * 3, cutoff, skin)
    assert forcefield.slot_counts(nb)[0] < 9  # no pair within the cutoff yet: the fewest slots (one block)
    init, step = md.integrator(md.from_energy(lambda x: 0.0 * jnp.sum(x)), 0.001)
    state = init(pos, v, m, nb)
    for state, nb in md.simulate(step, state, nb, jax.random.PRNGKey(0), 10, 10,
                                 forcefield.rebuilder(cutoff, skin, [False] * 3)):
        pass
    assert int(state.step) == 10 and forcefield.slot_counts(nb)[0] >= 9
    assert not bool(nb.invalid(state.positions))


def test_svr_from_rest_stays_finite():
    """Zero kinetic energy has no direction to rescale: the thermostat leaves it (no NaN)."""
    thermostat = md.svr(KT, 0.001, 3 * 2000 - 3)
    v = thermostat.apply(jnp.zeros((2000, 3)), jnp.ones(2000), jax.random.PRNGKey(0), 0.00025)
    assert np.all(np.asarray(v) == 0.0)
