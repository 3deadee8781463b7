"""The example MD runs in example_data/md (made by example_data/run_md.sh with eqt-md): what they show.

A run still in progress (its last step short of 10 ps) is skipped, naming the command that continues it."""
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from eqt_analysis import io, molecules, rdf, system
from eqt_cli import angmom

RUNS = Path(__file__).resolve().parents[1] / "example_data" / "md"
STEPS = 20000  # 10 ps of 0.5 fs


def finished(name):
    path = RUNS / f"{name}.nc"
    if not path.exists():
        pytest.skip(f"{path} not made yet (bash example_data/run_md.sh {name})")
    ds = io.open_trajectory(path)
    last = int(ds["step"].values[-1])
    if last < STEPS:
        pytest.skip(f"{name} is at step {last} of {STEPS}: continue it with bash example_data/run_md.sh {name}")
    return ds.load()


def torque_and_energy(name, tmp_path):
    out = tmp_path / f"{name}.nc"
    result = CliRunner().invoke(angmom.main, [str(RUNS / f"{name}.nc"), "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(out)
    return float(ds["mean_abs_torque"]), float(ds["energy_drift"]), float(ds["energy_drift_err"])


def test_gas_phase_molecule_the_average_removes_the_spurious_torque(tmp_path):
    """NVE water molecule: both runs conserve energy; the plain model's forces exert a net torque on the
    isolated molecule (the broken symmetry), the 2i-averaged model's are 100x closer to torque-free."""
    for name in ("molecule_plain", "molecule_2i"):
        ds = finished(name)
        spread = np.ptp(ds["conserved_energy"].values)
        assert spread < 1e-2 * np.mean(ds["kinetic_energy"].values), (name, spread)  # bounded Verlet error
        delta = ds["energy_plain"].values - ds["energy_averaged"].values
        assert np.all(np.isfinite(delta)) and np.abs(delta).max() < 0.05  # eV: the model's rotational error
    plain, _, _ = torque_and_energy("molecule_plain", tmp_path)
    averaged, drift, err = torque_and_energy("molecule_2i", tmp_path)
    print(f"mean |torque|: plain {plain:.2e} eV, 2i {averaged:.2e} eV; 2i energy drift {drift:.1e} ± {err:.1e} eV/ps")
    assert plain > 100 * averaged
    assert abs(drift) < 1e-5


@pytest.mark.parametrize("name", ["bulk_plain", "bulk_mts2i", "bulk_random"])
def test_water_box_is_stable_at_300_K_with_the_first_peak_in_place(name):
    ds = finished(name)
    temperature = ds["temperature"].values[len(ds["temperature"]) // 5:]
    assert 285 < temperature.mean() < 315, temperature.mean()
    numbers, cell = ds["atomic_number"].values, ds["cell"].values
    waters = molecules.find_waters(numbers, ds["positions"].values[-1], cell[-1], ds["pbc"].values)
    assert len(waters) == 64  # no molecule fell apart
    calc = rdf.RDF(system.System.from_dataset(ds), pairs="O-O", r_max=6.0, bins=120)
    calc.add_frames(ds["positions"].values, cell)
    g = calc.result()["g"].sel(pair="O-O")
    peak = float(g["r"][int(np.argmax(g.values))])
    print(f"{name}: <T> {temperature.mean():.1f} K, O-O first peak at {peak:.2f} Å (g = {float(g.max()):.2f})")
    assert 2.7 <= peak <= 2.9


def test_ice_check_relaxes_every_cell_and_the_average_barely_moves_the_minima():
    """example_data/md/ice.opt.nc (bash example_data/run_ice.sh: the 11 proton-disordered ice cells relaxed
    with the plain model, then with the 2i average from the plain minimum): every relaxation converged,
    the relative energies per molecule are those of the energies, and the average moves the minima by
    far less than the relaxation itself."""
    path = RUNS / "ice.opt.nc"
    if not path.exists():
        pytest.skip(f"{path} not made yet (bash example_data/run_ice.sh)")
    ds = xr.open_dataset(path).load()
    assert list(ds["model"].values) == ["plain", "2i"] and ds.sizes["structure"] == 11
    assert np.all(ds["converged"].values == 1) and np.all(ds["max_force"].values < ds.attrs["fmax"])
    assert np.all(3 * ds["n_molecules"].values == ds["n_atoms"].values)  # waters: 96 to 768 per cell
    for name in ("energy", "energy_initial"):
        per = ds[name].values / ds["n_molecules"].values
        expected = (per - per.min(axis=1, keepdims=True)) * 1e3
        np.testing.assert_allclose(ds["relative_" + name].values, expected, atol=1e-9)
    shift = ds["rms_position_difference"].values[0]
    moved = ds["rms_displacement"].sel(model="plain").values
    print(f"RMS shift of the minima by the 2i average: {shift.min():.2e}..{shift.max():.2e} Å; "
          f"relaxation moved atoms {moved.min():.3f}..{moved.max():.3f} Å")
    assert np.all(shift > 0) and np.all(shift < 0.1 * moved)
