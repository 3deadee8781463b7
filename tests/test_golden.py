"""Golden energies and forces that need nothing outside the repository: the committed small model
(example_data/model-small.pkl) on frame 0 of example_data/water64_tip3p.nc, and a model with the
architecture of model.init and seeded parameters on a 12-atom triclinic water box, both in float64. Any change
of the architecture or of the numbers it computes (cutoff function, reverse-edge messages,
attention weights, radial basis, output scale, neighbour shifts, ...) changes them.

How the numbers were produced (eqt at commit e384e81, JAX 0.10.2, NumPy 2, CPU, float64):
    python -c "import jax; jax.config.update('jax_enable_x64', True); ..." running exactly
    `_example_model_result()` and `_seeded_model_result()` below and printing repr() of the
    energy and the forces. They are to be regenerated the same way, deliberately, only when the
    model is meant to change (and then the example model retrained).
"""
from pathlib import Path

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)  # as tests/test_model.py: the model in float64, not float32 noise

import jax.numpy as jnp  # noqa: E402

from eqt_model import model  # noqa: E402
from eqt_model import neighbors as nbmod  # noqa: E402
from eqt_model.config import ModelConfig  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data"

# ------------------------------------------------------------------ the committed example model
EXAMPLE_ENERGY = -30040.556150277866  # eV, frame 0, 64 waters
EXAMPLE_ATOMS = [0, 1, 2, 97, 190]
EXAMPLE_FORCES = np.array([  # eV/Å of EXAMPLE_ATOMS
    [-0.3703106333566094, -1.3760068231569944, -0.29035988796372425],
    [0.37642403125054064, 0.9780114779108893, 0.5167690031158052],
    [0.0784006961229812, 0.03984226708014729, -0.20837140049943126],
    [-0.37260414207348225, -0.02264343963992382, -0.02242454465924124],
    [0.6921531844314971, -0.7062761046453029, 0.4285521993773933],
])
EXAMPLE_FORCE_RMS = 0.37484895967902276  # eV/Å over all 192 x 3 components
EXAMPLE_FORCE_ABS_SUM = 166.19673586948835  # eV/Å


def _example_model_result():
    from eqt_analysis import io
    from eqt_model.calculator import Potential

    ds = io.open_trajectory(EXAMPLE / "water64_tip3p.nc").isel(frame=[0]).load()
    positions = ds["positions"].values[0].astype(np.float64)  # stored as float32: exact in float64
    potential = Potential(EXAMPLE / "model-small.pkl")
    return potential.energy_and_forces(positions, ds["cell"].values[0], ds["atomic_number"].values)


def test_example_model_golden_energy_and_forces():
    energy, forces = _example_model_result()
    # float64 with a different summation order (another CPU, GPU) moves these by ~1e-12 relative
    assert energy == pytest.approx(EXAMPLE_ENERGY, rel=0, abs=1e-7)
    np.testing.assert_allclose(forces[EXAMPLE_ATOMS], EXAMPLE_FORCES, rtol=1e-8, atol=1e-10)
    assert np.sqrt(np.mean(forces**2)) == pytest.approx(EXAMPLE_FORCE_RMS, rel=1e-8)
    assert np.abs(forces).sum() == pytest.approx(EXAMPLE_FORCE_ABS_SUM, rel=1e-8)
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-9)  # translation invariance: no net force


# ------------------------------------------------------------------ a seeded model of the same code
SEEDED_CONFIG = ModelConfig(species=(1, 8), d_model=16, n_message_layers=2, n_transformer_layers=1, n_heads=2,
                            d_feedforward=32, cutoff=3.5, cutoff_width=0.3, n_radial=4)
# a triclinic box of 4 waters, written out (not drawn) so that no random stream is involved;
# 18 of its 60 ordered pairs within r_c lie in the switching shell 3.2..3.5 Å and 14 in 2.9..3.2 Å
SEEDED_CELL = np.array([[8.0, 0.0, 0.0], [2.5, 7.5, 0.0], [-1.5, 2.0, 7.0]])
SEEDED_NUMBERS = np.array([8, 1, 1] * 4)
SEEDED_POSITIONS = np.array([
    [7.9145, 0.0878, 0.05], [6.4132, 3.0428, 6.9855], [6.2088, 1.7872, 6.1648],
    [9.6409, 8.3207, 3.538], [1.5911, 7.9924, 4.4357], [9.1965, 7.6544, 3.0138],
    [7.6979, 5.8768, 6.8869], [9.1058, 4.1932, 0.7856], [0.5496, 5.4402, 6.8723],
    [8.2918, 4.8837, 3.5167], [8.2665, 4.7968, 2.5638], [7.3782, 4.8005, 3.7896],
])
SEEDED_ENERGY = -9.97627352087184  # eV
SEEDED_FORCES = np.array([  # eV/Å, all 12 atoms
    [5.5682373515313827e-02, -5.0030636774384865e-02, 7.4779216685195368e-02],
    [5.0383126921205390e-02, 2.7780648759474069e-01, 3.1826096918783975e-01],
    [-6.8063804747342804e-03, -7.8028844342853954e-02, -7.5851387748157154e-02],
    [2.0525595319764639e-02, 9.5377936561445845e-02, -3.7484173652276853e-02],
    [-3.9687446739428367e-02, -7.5649922739149181e-02, 1.1035103314495745e-01],
    [-6.4460700400089652e-02, -9.5479285760318236e-02, -3.4215060745418502e-01],
    [-8.8067592451007842e-02, -7.0453478771593525e-02, -3.9291322082616092e-01],
    [-1.3472108422421356e-01, -1.2186210989187640e-01, -6.7715916118793263e-03],
    [-2.3145077296567373e-01, -2.6735214911961680e-01, -8.3136944885888564e-01],
    [1.9090091790434116e-01, 6.2346102658931056e-02, 4.4997322712145482e-01],
    [3.3566482351586574e-02, 6.3796766173920827e-04, -5.1469950524904204e-02],
    [2.1413548124293580e-01, 3.2268793292293624e-01, 7.8464593453700182e-01],
])


def _seeded_params():
    """model.init's parameter tree (its shapes: the architecture) filled from NumPy's legacy
    RandomState(2024), whose stream is frozen across NumPy versions (jax.random's bits are not
    across JAX versions): weight matrices N(0, 1/fan_in), every other leaf N(0, 0.25), the
    heads and the output scale and reference energies included. Leaves in jax's flattening
    order (dict keys sorted)."""
    template = model.init(jax.random.PRNGKey(0), SEEDED_CONFIG, zero_heads=False)
    leaves, tree = jax.tree_util.tree_flatten(template)
    rs = np.random.RandomState(2024)
    filled = []
    for leaf in leaves:
        shape = np.shape(leaf)
        scale = 1 / np.sqrt(shape[0]) if len(shape) == 2 else 0.5
        filled.append(jnp.asarray(rs.standard_normal(shape) * scale, dtype=jnp.float64))
    return jax.tree_util.tree_unflatten(tree, filled)


def _seeded_model_result():
    nb = nbmod.build(SEEDED_POSITIONS, SEEDED_CELL, [True] * 3, SEEDED_CONFIG.cutoff, 48)
    species = np.searchsorted(SEEDED_CONFIG.species, SEEDED_NUMBERS)
    graph = model.Graph(jnp.asarray(SEEDED_POSITIONS), jnp.asarray(SEEDED_CELL), jnp.asarray(species),
                        *(jnp.asarray(a) for a in nb))
    energy, forces = jax.jit(model.energy_and_forces, static_argnums=1)(_seeded_params(), SEEDED_CONFIG, graph)
    return float(energy), np.asarray(forces, dtype=np.float64)


def test_seeded_model_golden_energy_and_forces():
    energy, forces = _seeded_model_result()
    assert energy == pytest.approx(SEEDED_ENERGY, rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(forces, SEEDED_FORCES, rtol=1e-8, atol=1e-10)


def test_seeded_model_parameter_tree_is_the_architecture():
    """The shapes the golden numbers rest on: a renamed or resized parameter fails here first,
    with a readable message, instead of as a wrong energy."""
    params = _seeded_params()
    shapes = {jax.tree_util.keystr(path): np.shape(leaf)
              for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
    assert len(shapes) == 72
    assert shapes["['embed_central']"] == (2, 16) and shapes["['embed_neighbor']"] == (2, 16)
    assert shapes["['layers'][0]['geometry'][0]['w']"] == (4 + 4, 16)  # vector, length, 4 radial Gaussians
    assert shapes["['layers'][1]['reverse']['w']"] == (16, 16)
    assert shapes["['layers'][0]['transformer'][0]['feedforward'][0]['w']"] == (16, 32)
    assert shapes["['output']['reference']"] == (2,) and shapes["['output']['scale']"] == ()
