"""eqt-convert and eqt-info as a user runs them: results, pipes, and bad input (exit 2, no output)."""
import json
import os

import ase.io
import numpy as np
import pytest
from click.testing import CliRunner

from eqt_analysis import io
from eqt_cli import convert, info


def run(cmd, args, **kwargs):
    return CliRunner().invoke(cmd.main, [str(a) for a in args], catch_exceptions=False, **kwargs)


@pytest.fixture
def xyz(tmp_path, water_frames):
    path = tmp_path / "traj.xyz"
    ase.io.write(path, water_frames, format="extxyz")
    return path


def test_convert_then_info(tmp_path, xyz):
    out = tmp_path / "traj.nc"
    result = run(convert, [xyz, out, "-q"])
    assert result.exit_code == 0, result.output
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not left private by the temporary file
    result = run(info, [out, "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert summary["frames"] == 5 and summary["atoms"] == 24
    assert summary["composition"] == "H16O8"
    assert summary["molecules"] == 8 and summary["water_molecules"] == 8
    assert summary["cell"]["kind"].startswith("triclinic")
    assert summary["cell"]["varies"]  # the fixture's cell grows 1 % per frame; lengths are the first frame's
    first = ase.io.read(xyz, 0).cell.cellpar()
    np.testing.assert_allclose(summary["cell"]["lengths_angstrom"] + summary["cell"]["angles_degree"], first, atol=1e-5)
    assert "(first frame; the cell varies)" in run(info, [out]).stdout
    one = tmp_path / "one.nc"
    assert run(convert, [xyz, one, "--stop", 1, "-q"]).exit_code == 0
    assert not json.loads(run(info, [one, "--json"]).stdout)["cell"]["varies"]
    assert summary["time_step_ps"] == pytest.approx(10 * 1e-3 / ase.units.fs)
    assert summary["variables"]["forces"]["units"] == "electronvolt/angstrom"
    assert set(summary["variables"]) >= {"positions", "velocities", "potential_energy", "molecule"}
    result = run(info, [out, "-q"])
    assert "frames        5" in result.stdout and "8, 8 water" in result.stdout and not result.stderr


def test_info_describes_results_and_models(tmp_path):
    """eqt-info on an eqt result: its type, sizes, variables with units, 0-d values and attributes as
    written; on a model: its checksum, architecture, parameter count and training record."""
    import hashlib
    from pathlib import Path

    import xarray as xr

    from eqt_cli import rdf
    from eqt_model import modelfile

    example = Path(__file__).resolve().parents[1] / "example_data"
    out = tmp_path / "r.nc"
    assert run(rdf, [example / "water64_tip3p.nc", "--stop", 5, "--pairs", "O-O", "-q", "-o", out]).exit_code == 0
    summary = json.loads(run(info, [out, "--json"]).stdout)
    ds = xr.open_dataset(out)
    assert summary["result_type"] == "rdf" and summary["sizes"] == {k: int(v) for k, v in ds.sizes.items()}
    assert summary["variables"]["g"] == {"dims": ["pair", "r"], "units": "1", "long_name": ds["g"].attrs["long_name"]}
    assert summary["attributes"]["n_frames"] == 5
    assert "result        rdf" in run(info, [out]).stdout
    model = example / "model-small.pkl"
    summary = json.loads(run(info, [model, "--json"]).stdout)
    config, params, training = modelfile.load(model)
    assert summary["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert summary["config"] == config.to_dict()
    assert summary["parameters"] == sum(np.size(leaf) for leaf in _leaves(params)) == 29383  # README: small preset
    assert summary["training"]["test_errors_meV"]["forces_mae"] == pytest.approx(training["test_errors"]["forces_mae"] * 1e3)
    assert "parameters    " in run(info, [model]).stdout


def _leaves(tree):
    if isinstance(tree, dict):
        tree = list(tree.values())
    if isinstance(tree, list):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [tree]


def test_frame_selection(tmp_path, xyz):
    out = tmp_path / "sel.nc"
    assert run(convert, [xyz, out, "--start", 1, "--stride", 2, "-q"]).exit_code == 0
    ds = io.open_trajectory(out)
    np.testing.assert_array_equal(ds["step"].values, [20, 60])


@pytest.mark.parametrize("to, name", [("extxyz", "out.nc"), ("netcdf", "out.xyz"), ("netcdf", "out.dcd"),
                                      ("extxyz", "out.xyz.gz"), ("extxyz", "out.nc.gz"), ("netcdf", "out.nc.bz2"),
                                      ("extxyz", "out.xz")])
def test_to_must_agree_with_the_output_name(tmp_path, xyz, to, name):
    """--to extxyz into b.nc wrote text that every reader then took for NetCDF; into b.xyz.gz, plain text
    that ASE and gzip then failed to decompress."""
    result = run(convert, [xyz, tmp_path / name, "--to", to, "-q"])
    expected = "writes uncompressed" if name.endswith(("gz", "bz2", "xz")) else "but the output is " + to
    assert result.exit_code == 2 and expected in result.output, result.output
    assert not (tmp_path / name).exists()
    assert run(convert, [xyz, tmp_path / "out.xyz", "--to", "extxyz", "-q"]).exit_code == 0


def test_pipe_through_stdin_and_stdout(tmp_path, xyz):
    result = run(convert, ["-f", "extxyz", "-", "--to", "netcdf", "-", "-q"], input=xyz.read_bytes())
    assert result.exit_code == 0
    (tmp_path / "piped.nc").write_bytes(result.stdout_bytes)
    result = run(info, ["-f", "netcdf", "-", "--json"], input=result.stdout_bytes)
    assert json.loads(result.stdout)["frames"] == 5


def test_bad_stdin_is_named_as_typed():
    """An error about data read from stdin names '-', not eqt's temporary copy of it."""
    for fmt in ("netcdf", "extxyz"):
        result = run(info, ["-f", fmt, "-", "-q"], input=b"garbage\n")
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: -: ") and "eqt-" not in result.stderr, result.stderr


def test_properties_are_attached(tmp_path, xyz):
    rows = "\n".join(f"{20 * k} {-0.1 * k}" for k in range(5))
    (tmp_path / "run.out").write_text("# column 1 --> step : s\n# column 2 --> potential{electronvolt} : p\n" + rows + "\n")
    out = tmp_path / "p.nc"
    result = run(convert, [xyz, out, "-p", tmp_path / "run.out", "-q"])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(io.open_trajectory(out)["potential_energy"].values, -0.1 * np.arange(5))


def _bad_cases(tmp_path, xyz):
    text = xyz.read_text().splitlines()
    cases = {}
    cases["missing file"] = [tmp_path / "nope.xyz"]
    (tmp_path / "data.abc").write_text("hello\n")
    cases["unknown format"] = [tmp_path / "data.abc"]
    (tmp_path / "trunc.xyz").write_text("\n".join(text[:-3]) + "\n")
    cases["truncated xyz"] = [tmp_path / "trunc.xyz"]
    bad = list(text)
    bad[3] = "O 1.0 abc 2.0 0 0 0 0 0 0"
    (tmp_path / "malformed.xyz").write_text("\n".join(bad) + "\n")
    cases["malformed xyz"] = [tmp_path / "malformed.xyz"]
    import netCDF4
    with netCDF4.Dataset(tmp_path / "notraj.nc", "w") as nc:
        nc.createDimension("x", 3)
        nc.createVariable("y", "f4", ("x",))[:] = [1, 2, 3]
    cases["netcdf not a trajectory"] = [tmp_path / "notraj.nc"]
    n = len(text) // 5
    short = list(text[n:2 * n])  # second frame with one atom less
    short[0] = str(int(short[0]) - 1)
    del short[-1]
    (tmp_path / "counts.xyz").write_text("\n".join(text[:n] + short) + "\n")
    cases["different atom counts"] = [tmp_path / "counts.xyz"]
    nan = list(text)
    nan[2] = "O nan 0.0 0.0 " + " ".join(nan[2].split()[4:])
    (tmp_path / "nan.xyz").write_text("\n".join(nan) + "\n")
    cases["nan coordinates"] = [tmp_path / "nan.xyz"]
    zero = [ln.replace('Lattice="', 'Lattice="0 0 0 0 0 0 0 0 0" Old="') for ln in text]
    (tmp_path / "zero.xyz").write_text("\n".join(zero) + "\n")
    cases["zero-volume cell"] = [tmp_path / "zero.xyz"]
    from MDAnalysisTests.datafiles import DCD_TRICLINIC, PSF
    cases["topology does not match"] = [DCD_TRICLINIC, "--topology", PSF]
    (tmp_path / "u.xyz").write_text("1\n# CELL(abcABC): 10 10 10 90 90 90 Step: 0\nO 0 0 0\n")
    cases["i-PI units unknown"] = [tmp_path / "u.xyz"]
    return cases


def test_bad_input_exits_2_with_one_line_and_no_output(tmp_path, xyz):
    for name, args in _bad_cases(tmp_path, xyz).items():
        out = tmp_path / "out" / f"{name.replace(' ', '_')}.nc"
        out.parent.mkdir(exist_ok=True)
        result = CliRunner().invoke(convert.main, [str(a) for a in args[:1]] + [str(out), "-q"]
                                    + [str(a) for a in args[1:]])
        assert result.exit_code == 2, (name, result.output, result.exception)
        lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("warning:")]
        assert len(lines) == 1 and lines[0].startswith("Error:"), (name, result.stderr)
        assert "Traceback" not in result.output
        assert os.listdir(out.parent) == [], name  # nothing left behind, not even a temporary
        result = CliRunner().invoke(info.main, [str(a) for a in args])
        assert result.exit_code == 2, (name, result.output)


def test_steps_beyond_32_bits_are_refused_naming_the_output(tmp_path):
    """NetCDF-3 integers are 32-bit: step 3e9 was stored as -1294967296. The message names the output,
    not the temporary file it was being written to."""
    (tmp_path / "big.xyz").write_text(
        "1\n# CELL(abcABC): 10.0 10.0 10.0 90.0 90.0 90.0 Step: 3000000000 Bead: 0 positions{angstrom} "
        "cell{angstrom}\nO 1 1 1\n")
    result = CliRunner().invoke(convert.main, [str(tmp_path / "big.xyz"), str(tmp_path / "big.nc"), "-q"])
    assert result.exit_code == 2
    assert f"Error: {tmp_path / 'big.nc'}: step 3000000000 does not fit the 32-bit integers" in result.stderr
    assert os.listdir(tmp_path) == ["big.xyz"]


def test_progress_total_is_the_selected_frames_of_netcdf_runs(tmp_path, xyz):
    from eqt_cli.common import frames_total

    nc = tmp_path / "traj.nc"
    assert run(convert, [xyz, nc, "-q"]).exit_code == 0
    for start, stop, stride in ((0, None, 1), (1, 4, 2), (3, 99, 1), (7, None, 1)):
        selected = sum(1 for _ in range(5)[start:stop:stride])
        assert frames_total([str(nc), str(nc)], None, start, stop, stride) == 2 * selected
    assert frames_total(str(xyz)) is None and frames_total("-", "netcdf") is None  # text: not read twice
    assert frames_total(str(tmp_path / "missing.nc")) is None  # the reader reports it
