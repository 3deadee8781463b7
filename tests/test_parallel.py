"""--workers and --scheduler (dask.distributed, loopback only): results equal the serial run's
(the streamed RDF and orientation to 1e-12, summed in another order; MSD and C(t) bit for bit).

The block joining and the task cutting are checked without dask; the commands run on one
LocalCluster of two worker processes started and closed by this module (through --scheduler)
and once with --workers, which starts its own."""
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from eqt_analysis.blocks import Blocks
from eqt_cli import convert, msd, orient, parallel, rdf, rotcorr, vdos

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data" / "water64_tip3p.nc"
MODEL = Path(__file__).resolve().parents[1] / "example_data" / "model-small.pkl"


def run(cmd, args):
    return CliRunner().invoke(cmd.main, [str(a) for a in args])


@pytest.mark.parametrize("block_frames", [None, 7])
@pytest.mark.parametrize("n_frames", [5, 63, 64, 200, 1000])
def test_joined_pieces_equal_the_serial_blocks(block_frames, n_frames):
    """Blocks fed piece by piece (pieces as parallel.pieces cuts them) and joined: the same
    total and blocks as one Blocks fed every frame, to rounding."""
    rng = np.random.default_rng(n_frames)
    frames = [{"a": rng.random(3), "b": rng.random((2, 2))} for _ in range(n_frames)]
    serial = Blocks(block_frames)
    for f in frames:
        serial.add(f)
    for n_pieces in (1, 3, 16):
        ranges = parallel.pieces(n_frames, serial.final_block_frames(n_frames), n_pieces)
        assert ranges[0][0] == 0 and ranges[-1][1] == n_frames
        assert all(hi == lo2 for (_, hi), (lo2, _) in zip(ranges, ranges[1:]))
        parts = []
        for lo, hi in ranges:
            part = Blocks(block_frames)
            for f in frames[lo:hi]:
                part.add(f)
            parts.append(part)
        joined = Blocks(block_frames).joined(parts, n_frames)
        assert joined.block_frames == serial.block_frames and len(joined.blocks) == len(serial.blocks)
        for key in ("a", "b"):
            np.testing.assert_allclose(joined.total[key], serial.total[key], rtol=1e-12)
            for x, y in zip(joined.blocks, serial.blocks):
                np.testing.assert_allclose(x[key], y[key], rtol=1e-12)


@pytest.fixture(scope="module")
def scheduler():
    """The address of a loopback LocalCluster of two single-threaded worker processes."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    """The example trajectory's first 300 frames as two runs (130 + 170 frames)."""
    folder = tmp_path_factory.mktemp("halves")
    for name, selection in (("a.nc", ["--stop", 130]), ("b.nc", ["--start", 130, "--stop", 300])):
        assert run(convert, [EXAMPLE, folder / name, *selection, "-q"]).exit_code == 0
    return [folder / "a.nc", folder / "b.nc"]


def _close(a, b, names):
    for name in names:
        x, y = a[name].values, b[name].values
        np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-14 * np.nanmax(np.abs(x)))
        assert np.array_equal(np.isnan(x), np.isnan(y))


@pytest.mark.parametrize("cmd, args, names", [
    (rdf, ["--pairs", "O-O,O-H", "--dipole"], ("g", "g_err", "n", "g_inter", "c_L", "c_L_err")),
    (rdf, ["--pairs", "O-O", "--block-frames", 7, "--stride", 2], ("g", "g_err", "n")),
    (orient, ["--bandwidth", 0.2], ("P", "P_err", "P_coarse", "chi2")),
    (msd, ["--com", "--memory", 16, "--fit-stop", 0.3], ("msd", "msd_err", "D", "D_err")),  # 16-atom chunks
    (rotcorr, ["--memory", 16], ("C", "C_err", "tau")),
    (vdos, ["--memory", 16, "--mass-weighted"], ("vacf", "vacf_err", "vdos")),
])
def test_analyses_on_a_cluster_equal_the_serial_run(tmp_path, scheduler, halves, cmd, args, names):
    serial = run(cmd, [*halves, *args, "-o", tmp_path / "serial.nc", "-q"])
    spread = run(cmd, [*halves, *args, "--scheduler", scheduler, "-o", tmp_path / "spread.nc", "-q"])
    assert serial.exit_code == 0 and spread.exit_code == 0, serial.output + spread.output
    a, b = xr.open_dataset(tmp_path / "serial.nc"), xr.open_dataset(tmp_path / "spread.nc")
    assert a.attrs["n_frames"] == b.attrs["n_frames"] and a.attrs.get("n_blocks") == b.attrs.get("n_blocks")
    _close(a, b, names)
    if cmd in (msd, rotcorr, vdos):  # the chunks' sums are added in the serial order
        for name in names:
            assert np.array_equal(a[name].values, b[name].values, equal_nan=True)


def test_workers_start_their_own_local_cluster(tmp_path, halves):
    """--workers 2 equals serial; a bad later run is named in one Error line, without the workers' logs."""
    pytest.importorskip("dask.distributed")
    serial = run(rdf, [halves[0], "--pairs", "O-O", "-o", tmp_path / "serial.nc", "-q"])
    spread = run(rdf, [halves[0], "--pairs", "O-O", "--workers", 2, "-o", tmp_path / "spread.nc", "-q"])
    assert serial.exit_code == 0 and spread.exit_code == 0, spread.output
    _close(xr.open_dataset(tmp_path / "serial.nc"), xr.open_dataset(tmp_path / "spread.nc"), ("g", "g_err", "n"))
    small = tmp_path / "small.xyz"  # the same atoms in a box too small for r_max 6 Å
    import ase.io

    assert run(convert, [halves[1], small, "--stop", 1, "--to", "extxyz", "-q"]).exit_code == 0
    atoms = ase.io.read(small)
    atoms.set_cell(atoms.cell * 0.9, scale_atoms=True)
    ase.io.write(small, atoms)
    bad = run(rdf, [halves[0], small, "--pairs", "O-O", "--workers", 2, "-o", tmp_path / "bad.nc", "-q"])
    assert bad.exit_code == 2, bad.output
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {small}: r_max 6"), bad.stderr


@pytest.mark.parametrize("args, message", [
    (["{a}", "--workers", 2, "--scheduler", "tcp://127.0.0.1:1"], "not both"),
    (["-", "--format", "netcdf", "--workers", 1], "standard input"),
    (["{a}", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the dask scheduler"),
    (["{a}", "{missing}", "--workers", 1], "no such file"),
    (["{a}", "--scheduler", "{missing}"], "no such scheduler file"),
])
def test_bad_requests_exit_2_and_write_nothing(tmp_path, halves, args, message):
    """One Error line (exit 2), nothing written."""
    pytest.importorskip("dask.distributed")
    args = [str(a).format(a=halves[0], missing=tmp_path / "none.nc") for a in args]
    result = CliRunner().invoke(rdf.main, [*args, "-o", str(tmp_path / "out.nc"), "-q"], input=b"")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and not os.path.exists(tmp_path / "out.nc")





def test_model_commands_on_a_cluster_equal_the_serial_run(tmp_path, scheduler):
    """eqt-rotvar and eqt-eval with their structures spread over two workers (each building the
    model once): the same numbers as the serial run."""
    from eqt_cli import eval as evaluate
    from eqt_cli import rotvar

    assert run(convert, [EXAMPLE, tmp_path / "three.xyz", "--stop", 2, "--to", "extxyz", "-q"]).exit_code == 0
    for cmd, args, names in (
            (rotvar, ["--grids", "1,i", "--n-random", 3, "--no-labels"], ("spread_energy", "spread_forces",
                                                                          "energy_error", "forces_error")),
            (evaluate, ["--average", "i", "--float64"], ("energy", "forces", "energy_error"))):
        base = [MODEL, tmp_path / "three.xyz", *args, "-q"]
        serial = run(cmd, [*base, "-o", tmp_path / "serial.nc"])
        spread = run(cmd, [*base, "--scheduler", scheduler, "-o", tmp_path / "spread.nc"])
        assert serial.exit_code == 0 and spread.exit_code == 0, serial.output + spread.output
        a, b = xr.open_dataset(tmp_path / "serial.nc"), xr.open_dataset(tmp_path / "spread.nc")
        for name in names:
            if name in a:
                np.testing.assert_allclose(b[name].values, a[name].values, rtol=1e-12,
                                           atol=1e-12 * np.nanmax(np.abs(a[name].values)))
        assert any(name in a for name in names[1:])


def test_md_replay_on_a_cluster_equals_the_serial_run(tmp_path, scheduler):
    """eqt-md --replay with its frames spread over two workers: the same energies and forces,
    written in the order of the frames."""
    from eqt_cli import md

    assert run(convert, [EXAMPLE, tmp_path / "five.nc", "--stop", 5, "-q"]).exit_code == 0
    base = [MODEL, tmp_path / "five.nc", "--replay", "--record", "i", "--record-forces", "--float64", "-q"]
    serial = run(md, [*base, "-o", tmp_path / "serial.nc"])
    spread = run(md, [*base, "--scheduler", scheduler, "-o", tmp_path / "spread.nc"])
    assert serial.exit_code == 0 and spread.exit_code == 0, serial.output + spread.output
    a, b = xr.open_dataset(tmp_path / "serial.nc"), xr.open_dataset(tmp_path / "spread.nc")
    np.testing.assert_array_equal(b["coordinates"].values, a["coordinates"].values)
    for name in ("energy_plain", "energy_averaged", "forces_plain", "forces_averaged"):
        np.testing.assert_allclose(b[name].values, a[name].values, rtol=1e-12, atol=1e-12)
    refused = run(md, [MODEL, tmp_path / "five.nc", "--steps", 2, "--stride", 2, "--workers", 2, "-o", tmp_path / "md.nc", "-q"])
    assert refused.exit_code == 2 and "--replay" in refused.stderr
