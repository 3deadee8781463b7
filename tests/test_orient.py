"""Orientation distribution: normalization, kernel against a NumPy reference, isotropy verdicts."""
import numpy as np
import pytest

from eqt_analysis import orient
from eqt_analysis.errors import InputError
from eqt_analysis.system import System

R_OH, HOH = 0.9572, np.radians(104.52)


def _waters_along(axes, spacing=5.0):
    """Waters (O,H,H) whose dipole axes are the unit vectors `axes` (n, 3), placed on a line:
    positions and the [O, H, H] index table."""
    rng = np.random.default_rng(0)
    out = []
    for k, u in enumerate(axes):
        v = np.cross(u, rng.normal(size=3))
        v /= np.linalg.norm(v)
        half = HOH / 2
        o = np.array([k * spacing, 0.0, 0.0])
        out += [o, o + R_OH * (np.cos(half) * u + np.sin(half) * v), o + R_OH * (np.cos(half) * u - np.sin(half) * v)]
    return np.array(out), np.arange(3 * len(axes)).reshape(-1, 3)


def _system(positions):
    """The System of waters on a line (open boundaries)."""
    return System(np.tile([8, 1, 1], len(positions) // 3), positions, source="test.nc")


def _random_axes(rng, n):
    u = rng.normal(size=(n, 3))
    return u / np.linalg.norm(u, axis=1, keepdims=True)


@pytest.mark.parametrize("bandwidth_phi", [None, 0.1])
def test_kernel_matches_numpy_broadcast_reference(bandwidth_phi):
    """Default width in φ: π times the width in cos θ; or its own (the study's 0.1 rad)."""
    rng = np.random.default_rng(1)
    axes = _random_axes(rng, 30)
    pos, waters = _waters_along(axes)
    calc = orient.Orientation(_system(pos), n_cos=20, n_phi=60, bandwidth=0.15, bandwidth_phi=bandwidth_phi)
    calc.add(pos)
    calc.add(pos)  # the verdict needs 2 blocks; the same frame twice keeps P
    res = calc.result()
    c, p = axes[:, 2], np.arctan2(axes[:, 1], axes[:, 0])
    gc, gp = res["cos_theta"].values[:, None, None], res["phi"].values[None, :, None]
    hc, hp = 0.15, bandwidth_phi or np.pi * 0.15
    assert (res.attrs["bandwidth_cos_theta"], res.attrs["bandwidth_phi"]) == (hc, hp)
    kc = sum(np.exp(-0.5 * ((gc - img) / hc) ** 2) for img in (c, 2 - c, -2 - c))
    kp = sum(np.exp(-0.5 * ((gp - img) / hp) ** 2) for img in (p, p + 2 * np.pi, p - 2 * np.pi))
    ref = (kc * kp).sum(-1) / (2 * np.pi * hc * hp) / len(c) * 4 * np.pi
    np.testing.assert_allclose(res["P"].values, ref, rtol=1e-4, atol=1e-5 * ref.max())
    # normalized: the mean of P over the equal-area grid is 1 (reflection keeps all the mass)
    assert res["P"].values.mean() == pytest.approx(1.0, abs=2e-3)


def test_uniform_orientations_are_judged_isotropic():
    rng = np.random.default_rng(2)
    calc = orient.Orientation(_system(_waters_along(_random_axes(rng, 1))[0]), block_frames=50)
    for _ in range(4000):  # one gas-phase molecule, a fresh random orientation per frame
        calc.add(_waters_along(_random_axes(rng, 1))[0])
    res = calc.result()
    assert res["p_value"] > 0.01
    z = (res["P_coarse"].values - 1) / res["P_coarse_err"].values
    assert np.all(np.abs(z) < 4)
    assert res["max_abs_F"] < 0.5 and res["max_abs_F"].attrs["units"] == "kT"


def test_isotropic_runs_with_few_blocks_keep_the_nominal_false_alarm_rate():
    """120 isotropic runs of 4 blocks (40 waters, 3 frames per block): p < 0.05 for about 6 of
    them (binomial: more than 15 has probability 1e-3). Per-cell errors with 3 degrees of freedom
    called about 90 % of such runs anisotropic."""
    rng = np.random.default_rng(5)
    pos = _waters_along(_random_axes(rng, 40))[0]
    alarms = 0
    for _ in range(120):
        calc = orient.Orientation(_system(pos), n_cos=10, n_phi=20, block_frames=3)
        for _ in range(12):
            calc.add(_waters_along(_random_axes(rng, 40))[0])
        res = calc.result()
        assert res.attrs["n_blocks"] == 4 and res.attrs["dof_error"] == 3 * res.attrs["dof"]
        alarms += bool(res["p_value"] < 0.05)
    assert 1 <= alarms <= 15


def test_biased_orientations_are_not_isotropic():
    rng = np.random.default_rng(3)
    axes = _random_axes(rng, 64)
    calc = orient.Orientation(_system(_waters_along(axes)[0]), block_frames=5)
    for _ in range(100):
        u = _random_axes(rng, 64) + np.array([0.0, 0.0, 0.4])  # a weak preference for +z
        calc.add(_waters_along(u / np.linalg.norm(u, axis=1, keepdims=True))[0])
    res = calc.result()
    assert res["p_value"] < 1e-6
    top, bottom = res["P_coarse"].values[-1].mean(), res["P_coarse"].values[0].mean()
    assert top > 1.2 and bottom < 0.8


def test_rotating_the_sample_moves_the_distribution():
    """P(cos θ, φ) of axes turned by 90° about z is P shifted by a quarter turn in φ."""
    rng = np.random.default_rng(4)
    axes = _random_axes(rng, 200) + [0.5, 0.0, 0.2]
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    turned = axes @ np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]]).T
    results = []
    for a in (axes, turned):
        calc = orient.Orientation(_system(_waters_along(a)[0]), n_cos=10, n_phi=40)
        calc.add(_waters_along(a)[0])
        calc.add(_waters_along(a)[0])
        results.append(calc.result()["P"].values)
    np.testing.assert_allclose(np.roll(results[0], 10, axis=1), results[1], rtol=1e-8, atol=1e-10)


def test_per_molecule_angles_are_the_dipole_axes():
    import xarray as xr

    rng = np.random.default_rng(5)
    axes = _random_axes(rng, 6)
    pos, waters = _waters_along(axes)
    calc = orient.Angles(_system(pos))
    frames = np.stack([pos, pos[:, [1, 0, 2]] * [1, 1, -1]])  # the second frame: x <-> y, z -> -z
    calc.add_chunk(xr.Dataset({"positions": (("frame", "atom", "spatial"), frames)},
                              coords={"time": ("frame", [0.0, 0.5])}))
    res = calc.result()
    np.testing.assert_allclose(res["cos_theta"].values, [axes[:, 2], -axes[:, 2]], atol=1e-12)
    np.testing.assert_allclose(np.cos(res["theta"].values), res["cos_theta"].values, atol=1e-12)
    np.testing.assert_allclose(res["phi"].values[0], np.arctan2(axes[:, 1], axes[:, 0]), atol=1e-12)
    np.testing.assert_array_equal(res["oxygen_index"].values, waters[:, 0])
    assert res["time"].attrs["units"] == "picosecond" and res.attrs["result_type"] == "angles"


def test_needs_water_and_sane_widths():
    argon = System(np.full(4, 18), np.eye(4, 3) * 4.0, source="ar.nc")
    with pytest.raises(InputError, match="^ar.nc: no water"):
        orient.Orientation(argon)
    with pytest.raises(InputError, match="no water"):
        orient.Angles(argon)
    water = _system(_waters_along(np.eye(3))[0])
    for h_phi in (0.0, -0.1, np.nan, 1.0):
        with pytest.raises(InputError, match="bandwidth in phi"):
            orient.Orientation(water, bandwidth_phi=h_phi)
