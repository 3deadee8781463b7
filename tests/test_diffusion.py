"""MSD and D: MDAnalysis EinsteinMSD, ballistic and random-walk answers, unwrapping."""
from pathlib import Path

import numpy as np
import pytest

from eqt_analysis import diffusion, io, trajectory
from eqt_analysis.errors import InputError

from .conftest import TRICLINIC, wrap

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data" / "water64_tip3p.nc"


def _dataset(positions, cell, dt=0.01, numbers=None):
    n_frames, n_atoms, _ = positions.shape
    numbers = np.full(n_atoms, 18) if numbers is None else numbers
    return trajectory.build(positions, numbers, cell=np.broadcast_to(cell, (n_frames, 3, 3)),
                            time=np.arange(n_frames) * dt)


def test_equals_mdanalysis_einstein_msd_on_unwrapped_oxygens():
    import MDAnalysis as mda
    from MDAnalysis.analysis.msd import EinsteinMSD
    from MDAnalysis.coordinates.memory import MemoryReader

    ds = io.open_trajectory(EXAMPLE).load()
    oxygens = np.flatnonzero(ds["atomic_number"].values == 8)
    cells = ds["cell"].values
    # wrap, let eqt unwrap, and give both codes the same (float32) unwrapped oxygens
    wrapped = np.stack([wrap(p, c) for p, c in zip(ds["positions"].values, cells)])
    unwrapped = diffusion.unwrap(wrapped[:, oxygens], cells).astype(np.float32)
    u = mda.Universe.empty(len(oxygens), trajectory=True)
    u.load_new(unwrapped, format=MemoryReader, dt=0.01)
    ref = EinsteinMSD(u, select="all", msd_type="xyz", fft=True).run().results.timeseries
    ours = diffusion.msd(_dataset(unwrapped.astype(float), cells), {"O": np.arange(len(oxygens))},
                         remove_drift=False)["msd_O"].values
    np.testing.assert_allclose(ours[1:], ref[1:], rtol=1e-8)
    assert ours[0] == pytest.approx(0.0, abs=1e-9)


def test_ballistic_motion_through_many_boundary_crossings_is_exact():
    """A water molecule flying through a small triclinic box (wrapped every frame)."""
    cell = TRICLINIC * 0.5
    velocity = np.array([13.0, -7.0, 5.0])  # Å/ps: crosses the ~5 Å box many times in 10 ps
    t = np.arange(1000) * 0.01
    local = np.array([[0.0, 0.0, 0.0], [0.9572, 0.0, 0.0], [-0.24, 0.927, 0.0]])
    true = local[None] + t[:, None, None] * velocity
    wrapped = np.stack([wrap(p, cell) for p in true])
    ds = _dataset(wrapped, cell, numbers=np.array([8, 1, 1]))
    ds["molecule"] = ("atom", np.zeros(3, np.int32))
    res = diffusion.msd(ds, {"O": [0], "com": ("com", [np.arange(3)])}, remove_drift=False)
    expected = (t * np.linalg.norm(velocity)) ** 2
    np.testing.assert_allclose(res["msd_O"].values, expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res["msd_com"].values, expected, rtol=1e-9, atol=1e-9)
    # with the drift removed a single molecule does not move at all
    still = diffusion.msd(ds, {"com": ("com", [np.arange(3)])}, remove_drift=True)["msd_com"].values
    assert np.abs(still).max() < 1e-9


def test_random_walk_recovers_its_diffusion_coefficient():
    rng = np.random.default_rng(11)
    d_true, dt, n_frames, n_atoms = 0.25, 0.01, 4000, 400  # Å^2/ps
    steps = rng.normal(scale=np.sqrt(2 * d_true * dt), size=(n_frames, n_atoms, 3))
    positions = np.cumsum(steps, axis=0)
    cell = np.eye(3) * 30.0
    wrapped = np.stack([wrap(p, cell) for p in positions])
    res = diffusion.msd(_dataset(wrapped, cell, dt), {"Ar": np.arange(n_atoms)}, n_blocks=8)
    res = diffusion.diffusion(res, 0.5, 3.0, ["Ar"])
    d, err = float(res["D_Ar"]), float(res["D_Ar_err"])
    assert abs(d - d_true) < 4 * err and err < 0.05 * d_true
    assert float(res["D_Ar_1e5cm2s"]) == pytest.approx(10 * d)
    lag = res["lag_time"].values
    np.testing.assert_allclose(res["msd_Ar"].values[100:300], 6 * d_true * lag[100:300], rtol=0.05)


def test_yeh_hummer_correction_value():
    # k_B T xi / (6 pi eta L) for 298 K, 0.89 mPa s, L = 20 Å: 0.1946e-9 m^2/s... by hand:
    kt = 1.380649e-23 * 298.0
    expected = kt * 2.837297 / (6 * np.pi * 0.89e-3 * 20e-10) * 1e8
    got = diffusion.yeh_hummer(0.0, 298.0, 0.89, np.eye(3)[None] * 20.0)
    assert got == pytest.approx(expected, rel=1e-6)


def test_bad_requests():
    cell = np.eye(3) * 10
    ds = _dataset(np.zeros((10, 2, 3)), cell)
    res = diffusion.msd(ds, {"Ar": [0, 1]}, n_blocks=2)
    with pytest.raises(InputError, match="beyond the block length"):
        diffusion.diffusion(res, 0.01, 0.09, ["Ar"])
    with pytest.raises(InputError, match="blocks"):
        diffusion.msd(ds, {"Ar": [0, 1]}, n_blocks=8)
    repeated = ds.assign_coords(time=("frame", np.r_[0, 0.01, 0.03, np.arange(3, 10) * 0.01]))
    with pytest.raises(InputError, match="does not increase at frame 3"):
        diffusion.msd(repeated, {"Ar": [0, 1]})
    uneven = ds.assign_coords(time=("frame", np.r_[0, 0.01, 0.03, np.arange(4, 11) * 0.01]))
    with pytest.raises(InputError, match="non-uniform"):
        diffusion.msd(uneven, {"Ar": [0, 1]})
    with pytest.raises(InputError, match="no time"):
        diffusion.msd(ds.drop_vars("time"), {"Ar": [0, 1]})
