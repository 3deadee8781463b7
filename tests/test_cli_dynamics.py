"""eqt-msd, eqt-rotcorr, eqt-vdos, eqt-tcf, eqt-angmom from the command line, and bad input."""
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from eqt_cli import angmom, msd, rotcorr, tcf, vdos

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data" / "water64_tip3p.nc"


def run(cmd, args):
    return CliRunner().invoke(cmd.main, [str(a) for a in args])


@pytest.mark.parametrize("cmd, extra, names", [
    (msd, ["--species", "O", "--com", "--fit-stop", "0.5"], {"msd_O", "msd_com", "D_O", "D_O_err", "D_com_1e5cm2s"}),
    (rotcorr, [], {"C1", "C1_err", "C2", "tau_C1", "tau_C2"}),
    (vdos, ["--mass-weighted"], {"vacf_O", "vdos_O", "vdos_H", "vdos_total"}),
    (tcf, ["-v", "potential_energy"], {"acf", "acf_err", "spectrum"}),
    (angmom, ["--drift-only"], {"conserved_energy"}),
])
def test_commands_write_their_results(tmp_path, cmd, extra, names):
    out = tmp_path / "res.nc"
    result = run(cmd, [EXAMPLE, *extra, "-o", out, "--plot", tmp_path / "p.png", "--dat", tmp_path / "t.dat"])
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(out)
    assert names <= set(ds.variables)
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert np.loadtxt(tmp_path / "t.dat").ndim == 2


def test_mass_weighted_vdos_integrates_to_equipartition(tmp_path):
    """Rigid TIP3P at ~300 K: <m v^2> per atom is close to 3 kT minus the constrained share."""
    out = tmp_path / "v.nc"
    assert run(vdos, [EXAMPLE, "--mass-weighted", "-o", out]).exit_code == 0
    ds = xr.open_dataset(out)
    kt = 8.617333262e-5 * 299.5
    total = float(ds["vacf_total"][0])  # eV per atom = 2 <E_kin> per atom
    assert total == pytest.approx(2 * kt * 381 / 2 / 192, rel=0.05)  # 381 degrees of freedom, 192 atoms
    integral = np.trapezoid(ds["vdos_total"].values, ds["frequency"].values)
    assert integral == pytest.approx(total, rel=1e-3)


def _uneven(tmp_path):
    import ase.io
    from ase import Atoms

    frames = []
    for k, t in enumerate([0.0, 0.01, 0.03, 0.04, 0.05, 0.06]):
        a = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], cell=[10, 10, 10], pbc=True)
        a.info["time"] = t
        a.info["time_units"] = "ps"
        frames.append(a)
    ase.io.write(tmp_path / "uneven.xyz", frames)
    return tmp_path / "uneven.xyz"


@pytest.mark.parametrize("cmd, args, message", [
    (msd, ["{uneven}"], "non-uniform"),
    (msd, ["{ex}", "--fit-stop", "3"], "beyond the block length"),
    (msd, ["{ex}", "--stop", "6", "--blocks", "5"], "blocks"),
    (angmom, ["{ex}"], "periodic system"),
    (angmom, ["{uneven}"], "no velocities"),
    (tcf, ["{ex}", "-v", "nonexistent"], "no per-frame variable"),
    (vdos, ["{ex}", "--species", "Xe"], "species"),
    (rotcorr, ["{missing}"], "no such file"),
])
def test_bad_input_exits_2_and_leaves_nothing(tmp_path, cmd, args, message):
    paths = {"uneven": _uneven(tmp_path), "ex": EXAMPLE, "missing": tmp_path / "no.nc"}
    out = tmp_path / "out"
    out.mkdir()
    result = run(cmd, [a.format(**paths) for a in args] + ["-o", out / "r.nc"])
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert os.listdir(out) == []
