"""eqt-rdf and eqt-orient as a user runs them: outputs, pipes, and bad input (exit 2, nothing left)."""
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from eqt_analysis import results
from eqt_cli import orient, rdf

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data" / "water64_tip3p.nc"


def run(cmd, args, **kwargs):
    return CliRunner().invoke(cmd.main, [str(a) for a in args], **kwargs)


def test_rdf_writes_dataset_table_and_plot(tmp_path):
    out, dat, png = tmp_path / "r.nc", tmp_path / "r.dat", tmp_path / "r.png"
    result = run(rdf, [EXAMPLE, "-o", out, "--dat", dat, "--plot", png, "--stop", 50, "--dipole",
                       "--pairs", "O-O,O-H", "--exclude-intramolecular", "-q"])
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(out)
    assert {"g", "g_err", "n", "c_L", "c_T", "density", "pair_count", "mean_volume"} <= set(ds.variables)
    assert list(ds["pair"].values) == ["O-O", "O-H"] and ds["g"].dims == ("pair", "r")
    assert ds["r"].attrs["units"] == "angstrom" and ds.attrs["n_frames"] == 50
    assert ds.attrs["command"] and ds.attrs["inputs"] == str(EXAMPLE)
    peak = float(ds["r"].values[np.argmax(ds["g"].sel(pair="O-O").values)])
    assert 2.6 < peak < 2.9  # Å, first O-O peak of liquid water
    assert ds["density"].sel(pair="O-H") == pytest.approx(128 / ds["mean_volume"])
    table = np.loadtxt(dat)
    assert table.shape[0] == ds.sizes["r"]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_table_holds_the_anisotropy(tmp_path):
    """--dat with --anisotropy left out ylm and Q (pair, l or lm, r): every variable along r is a column."""
    out, dat = tmp_path / "a.nc", tmp_path / "a.dat"
    result = run(rdf, [EXAMPLE, "-o", out, "--dat", dat, "--stop", 10, "--anisotropy", "--pairs", "O-O,O-H", "-q"])
    assert result.exit_code == 0, result.output
    ds = xr.load_dataset(out)
    header = [line for line in dat.read_text().splitlines() if line.startswith("#")][-1].lstrip("# ").split()
    table = np.loadtxt(dat)
    assert table.shape == (ds.sizes["r"], len(header))
    np.testing.assert_allclose(table[:, header.index("Q[O-H][l=2][1]")], ds["Q"].sel(pair="O-H", l=2), rtol=1e-9)
    np.testing.assert_allclose(table[:, header.index("ylm[O-O][2,-1][1]")], ds["ylm"].sel(pair="O-O", lm="2,-1"),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(table[:, header.index("g[O-O][1]")], ds["g"].sel(pair="O-O"), rtol=1e-9)
    expected = sum(ds[v].size // ds.sizes["r"] for v in ds.variables if "r" in ds[v].dims)
    assert len(header) == expected


@pytest.mark.parametrize("suffix, magic", [(".pdf", b"%PDF"), (".svg", b"<?xml"), (".png", b"\x89PNG")])
def test_plot_format_follows_the_suffix(tmp_path, suffix, magic):
    """--plot x.pdf wrote PNG data under a .pdf name."""
    fig = tmp_path / f"r{suffix}"
    result = run(rdf, [EXAMPLE, "--stop", 5, "--pairs", "O-O", "-q", "-o", tmp_path / "r.nc", "--plot", fig])
    assert result.exit_code == 0, result.output
    assert fig.read_bytes().startswith(magic)


def test_rdf_to_stdout_is_netcdf(tmp_path):
    result = run(rdf, [EXAMPLE, "-o", "-", "--pairs", "O-O", "--stop", 10, "-q"])
    assert result.exit_code == 0
    (tmp_path / "s.nc").write_bytes(result.stdout_bytes)
    assert xr.open_dataset(tmp_path / "s.nc")["g"].sel(pair="O-O").size == 200


def test_orient_verdict_and_per_molecule(tmp_path):
    result = run(orient, [EXAMPLE, "-o", tmp_path / "o.nc", "--plot", tmp_path / "o.png", "-q"])
    assert result.exit_code == 0, result.output
    assert "isotropic" in result.stderr and "chi2" in result.stderr
    ds = xr.open_dataset(tmp_path / "o.nc")
    assert ds["P"].dims == ("cos_theta", "phi") and ds["p_value"].dims == ()
    assert ds.attrs["bandwidth_phi"] == pytest.approx(np.pi * 0.1)  # the default: π x --bandwidth
    result = run(orient, [EXAMPLE, "--per-molecule", "-o", tmp_path / "a.nc", "--stop", 20, "-q"])
    assert result.exit_code == 0
    angles = xr.open_dataset(tmp_path / "a.nc")
    assert angles["theta"].shape == (20, 64)
    assert np.all((angles["theta"] >= 0) & (angles["theta"] <= np.pi))


def test_runs_together_equal_their_concatenation(tmp_path):
    """Two halves of a trajectory given as two runs (paths, or a glob) give exactly the RDF and
    orientation distribution of the whole, errors included (blocks are frames of the stream)."""
    from eqt_cli import convert

    for name, selection in (("a.nc", ["--stop", 130]), ("b.nc", ["--start", 130, "--stop", 300])):
        assert run(convert, [EXAMPLE, tmp_path / name, *selection, "-q"]).exit_code == 0
    assert run(convert, [EXAMPLE, tmp_path / "whole.nc", "--stop", 300, "-q"]).exit_code == 0
    for cmd, args, names in ((rdf, ["--pairs", "O-O,O-H", "--block-frames", 20], ("g", "g_err", "n", "g_inter")),
                             (orient, ["--bandwidth", 0.2], ("P", "P_err", "chi2"))):
        whole = run(cmd, [tmp_path / "whole.nc", *args, "-o", tmp_path / "whole.res.nc", "-q"])
        halves = run(cmd, [tmp_path / "a.nc", tmp_path / "b.nc", *args, "-o", tmp_path / "halves.nc", "-q"])
        glob = run(cmd, [tmp_path / "?.nc", *args, "-o", tmp_path / "glob.nc", "-q"])
        assert whole.exit_code == halves.exit_code == glob.exit_code == 0, halves.output + glob.output
        w, h, g = (xr.open_dataset(tmp_path / f) for f in ("whole.res.nc", "halves.nc", "glob.nc"))
        assert h.attrs["n_frames"] == w.attrs["n_frames"] == 300 and g.attrs["inputs"] == h.attrs["inputs"]
        for name in names:
            np.testing.assert_array_equal(h[name].values, w[name].values)
            np.testing.assert_array_equal(g[name].values, w[name].values)
        assert np.isfinite(w[names[1]].values).any()


def _no_cell(tmp_path):
    path = tmp_path / "gas.xyz"
    path.write_text("3\nProperties=species:S:1:pos:R:3\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n")
    return path


def _argon(tmp_path):
    path = tmp_path / "ar.xyz"
    path.write_text('2\nLattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
                    "Ar 0 0 0\nAr 3 0 0\n")
    return path


def _argon_periodic_in(tmp_path, pbc):
    """Two argon atoms in a 10 Å cell with the given pbc flags (e.g. "T T F": a slab)."""
    path = tmp_path / f"ar-{pbc.replace(' ', '')}.xyz"
    path.write_text(f'2\nLattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 pbc="{pbc}"\n'
                    "Ar 0 0 0\nAr 3 0 0\n")
    return path


@pytest.mark.parametrize("pbc, says", [("T T F", "periodic in x and y (pbc T T F)"),
                                       ("F F F", "periodic in no direction (pbc F F F)")])
def test_rdf_refuses_cells_not_periodic_in_every_direction(tmp_path, pbc, says):
    """Minimum images and the cell volume are wrong for a slab or a cluster in a box."""
    result = run(rdf, [_argon_periodic_in(tmp_path, pbc), "--pairs", "Ar-Ar", "--rmax", "4", "-o", "-", "-q"])
    assert result.exit_code == 2 and says in result.stderr


def test_rdf_of_a_pair_without_atoms_says_how_many_there_are(tmp_path):
    path = tmp_path / "one-o.xyz"
    path.write_text('3\nLattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
                    "O 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n")
    result = run(rdf, [path, "--pairs", "O-O", "--rmax", "4", "-o", "-", "-q"])
    assert result.exit_code == 2
    assert "pair O-O needs two O atoms or more, the trajectory has 1 (choose other pairs with --pairs)" \
        in result.stderr


@pytest.mark.parametrize("cmd, args", [
    (rdf, ["{gas}"]),                                           # no cell for a periodic analysis
    (rdf, ["{slab}", "--rmax", "4"]),                           # not periodic in z
    (rdf, ["{ex}", "--rmax", "7"]),                             # r_max beyond half the cell
    (rdf, ["{ex}", "--pairs", "O-Na"]),                         # species not present
    (rdf, ["{ex}", "--pairs", "OO"]),                           # malformed pair
    (rdf, ["{ar}", "--dipole", "--rmax", "4"]),                 # no water for --dipole
    (rdf, ["{ex}", "--stop", "1", "--block-frames", "5"]),      # block longer than trajectory
    (orient, ["{ar}"]),                                         # no water
    (orient, ["{ar}", "--per-molecule"]),                       # no water
    (orient, ["{ex}", "--bandwidth", "2"]),                     # bad bandwidth
    (orient, ["{ex}", "--bandwidth-phi", "1.5"]),               # bad bandwidth in phi
    (rdf, ["{missing}"]),                                       # missing file
    (rdf, ["{ex}", "{ar}", "--rmax", "4"]),                     # runs of different systems
    (orient, ["{ex}", "{dir}/nothing*.nc"]),                    # a glob matching nothing
    (rdf, ["{ex}", "{ex}"]),                                    # one run given twice
])
def test_bad_input_exits_2_and_leaves_nothing(tmp_path, cmd, args):
    paths = {"gas": _no_cell(tmp_path), "ex": EXAMPLE, "ar": _argon(tmp_path), "missing": tmp_path / "no.nc",
             "dir": tmp_path, "slab": _argon_periodic_in(tmp_path, "T T F")}
    args = [a.format(**paths) for a in args]
    out = tmp_path / "out"
    out.mkdir()
    result = run(cmd, args + ["-o", out / "res.nc", "--plot", out / "res.png", "-q"]
                 if cmd is rdf else args + ["-o", out / "res.nc", "-q"])
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.output
    assert os.listdir(out) == []


def test_every_result_type_follows_the_schema(tmp_path):
    """rdf (with every optional variable), orient and angles: units and long names everywhere,
    X_err beside X, result_type and schema_version."""
    runs = {"rdf": (rdf, ["--rmax", "5", "--bins", "50", "--bandwidth", "0.1", "--dipole", "--anisotropy"]),
            "orient": (orient, ["--bandwidth-phi", "0.1"]), "angles": (orient, ["--per-molecule"])}
    for kind, (cmd, args) in runs.items():
        out = tmp_path / f"{kind}.nc"
        result = run(cmd, [EXAMPLE, "--stop", 40, "-q", "-o", out] + args)
        assert result.exit_code == 0, result.output
        ds = xr.open_dataset(out)
        assert results.schema_problems(ds) == [], kind
        assert ds.attrs["result_type"] == kind and ds.attrs["schema_version"] == results.SCHEMA_VERSION
    ds = xr.open_dataset(tmp_path / "rdf.nc")
    assert {"g_inter", "c_L", "ylm", "Q"} <= set(ds.data_vars) and ds["Q"].dims == ("pair", "l", "r")
    assert xr.open_dataset(tmp_path / "orient.nc").attrs["bandwidth_phi"] == 0.1


def test_a_command_imports_neither_dask_nor_matplotlib_unless_asked(tmp_path):
    """Start-up (issue 15): an eqt-rdf process imports no dask (xarray imports it whenever it is
    installed, ~0.45 s) and no matplotlib, collects garbage again once the command runs, and gives the
    in-process result; with --workers dask is imported."""
    import json
    import subprocess
    import sys

    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(
        "import atexit, gc, json, os, sys\n"
        "def report():\n"
        "    loaded = sorted(m for m, v in sys.modules.items() if v is not None and m.split('.')[0] in "
        "('dask', 'distributed', 'matplotlib'))\n"
        "    with open(os.environ['EQT_PROBE'] + f'.{os.getpid()}', 'w') as out:\n"
        "        json.dump({'loaded': loaded, 'gc': gc.isenabled(), 'frozen': gc.get_freeze_count()}, out)\n"
        "atexit.register(report)\n")
    args = [str(EXAMPLE), "--stop", "3", "--pairs", "O-O", "-q"]
    seen = {}
    for extra in ([], ["--workers", "1"]):
        out, record = tmp_path / f"{len(extra)}.nc", tmp_path / f"{len(extra)}.json"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(probe), os.environ.get("PYTHONPATH", "")]),
                   EQT_PROBE=str(record))
        proc = subprocess.Popen([str(Path(sys.executable).parent / "eqt-rdf"), *args, *extra, "-o", str(out)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.wait() == 0, proc.stderr.read()
        seen[len(extra)] = json.loads(Path(f"{record}.{proc.pid}").read_text())  # the command's process
    assert seen[0]["loaded"] == [] and seen[0]["gc"] and seen[0]["frozen"] > 10000, seen[0]
    assert "dask.distributed" in seen[2]["loaded"] and seen[2]["gc"], seen[2]["gc"]
    assert CliRunner().invoke(rdf.main, [*args, "-o", str(tmp_path / "in.nc")]).exit_code == 0
    for name in ("0.nc", "2.nc"):
        xr.testing.assert_identical(xr.load_dataset(tmp_path / name).drop_attrs(),
                                    xr.load_dataset(tmp_path / "in.nc").drop_attrs())


def test_only_an_eqt_process_itself_tunes_its_garbage_collector(tmp_path):
    """A worker process that imports the command's script again (multiprocessing spawn, as dask's
    LocalCluster does) and a command called in process leave garbage collection as they found it."""
    import gc
    import subprocess
    import sys

    script = tmp_path / "eqt-probe"
    script.write_text(
        "import gc, multiprocessing as mp, sys\n"
        "import eqt_cli\n"
        "def child(queue):\n"
        "    queue.put((eqt_cli.AS_COMMAND, gc.isenabled()))\n"
        "if __name__ == '__main__':\n"
        "    print(eqt_cli.AS_COMMAND, gc.isenabled(), sys.modules.get('dask', 'importable') is None)\n"
        "    queue = mp.get_context('spawn').Queue()\n"
        "    process = mp.get_context('spawn').Process(target=child, args=(queue,))\n"
        "    process.start()\n"
        "    print(*queue.get())\n"
        "    process.join()\n")
    for extra, blocked in (([], "True"), (["--workers", "2"], "False")):
        proc = subprocess.run([sys.executable, str(script), *extra], capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["True", "False", blocked, "False", "True"], proc.stdout
    frozen, enabled = gc.get_freeze_count(), gc.isenabled()
    gc.disable()
    try:
        assert CliRunner().invoke(rdf.main, [str(EXAMPLE), "--stop", "2", "--pairs", "O-O", "-q", "-o",
                                             str(tmp_path / "r.nc")]).exit_code == 0
        assert not gc.isenabled() and gc.get_freeze_count() == frozen
    finally:
        if enabled:
            gc.enable()
