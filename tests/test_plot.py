"""eqt-plot and cli.plots: every result type renders (PNG, PDF, SVG), overlays carry a legend with
every label, and bad input gives exit code 2, one line and no output."""
import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from eqt_analysis import results
from eqt_analysis.results import variable
from eqt_cli import angmom, compare, msd, orient, plot, plots, rdf, rotcorr, tcf, vdos

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data"
WATER = EXAMPLE / "water64_tip3p.nc"  # an eqt trajectory too: conserved energy and temperature per frame


# result type: (command, arguments on the example, panels drawn for one result (colour bars included))
COMMANDS = {
    "rdf": (rdf, [WATER, "--stop", 20, "--pairs", "O-O,O-H", "--bins", 60, "--dipole"], 2),
    "orient": (orient, [WATER, "--stop", 20, "--grid", 20, 40], 2),
    "angles": (orient, [WATER, "--stop", 10, "--per-molecule"], 2),
    "msd": (msd, [WATER, "--stop", 100, "--species", "O", "--com"], 1),
    "rotcorr": (rotcorr, [WATER, "--stop", 100], 1),
    "vdos": (vdos, [WATER, "--stop", 100], 2),
    "tcf": (tcf, [WATER, "--stop", 100, "-v", "potential_energy"], 2),
    "angmom": (angmom, [EXAMPLE / "md" / "molecule_plain.nc", "--stop", 200], 3),
}
PANELS = dict({kind: n for kind, (_, _, n) in COMMANDS.items()}, rotvar=2, eval=3, opt=2, trajectory=2, training=3)


def run(cmd, args):
    return CliRunner().invoke(cmd.main, [str(a) for a in args])


def _rotvar(forces=True):
    """A rotvar result as eqt-rotvar writes it: energy errors over grids 1 .. 3 (the reference),
    with the forces per element and the test errors of a model run."""
    from eqt_model import rotvar

    rng = np.random.default_rng(0)
    reference = rng.normal(size=8)
    energies = {g: reference + 10.0 ** -k * rng.normal(size=8) for k, g in enumerate(["1", "i", "2", "2i"])}
    ds = rotvar.convergence_table(energies | {"3": reference}, 6.0)
    if forces:
        scale = np.array([10.0, 4.0, 0.2, 0.04, 0.0])
        ds["forces_error"] = variable(("grid", "species"), scale[:, None] * [1.0, 0.9, 1.2], "meV/angstrom",
                                      "mean |F_grid - F_finest|")
        ds = ds.assign_coords(species=variable(("species",), ["total", "H", "O"], "1", "element"))
        ds["test_energy_mae"] = variable(("grid",), np.full(5, 30.0), "meV", "test MAE of E")
        ds["test_forces_mae"] = variable(("grid",), np.full(5, 100.0), "meV/angstrom", "test MAE of F")
    return results.finish(ds, "rotvar", skip=0)


def _eval(mode):
    """An eval result of three labelled water molecules."""
    import ase
    from eqt_model import rotvar

    rng = np.random.default_rng(1)
    frames = [ase.Atoms("OH2", positions=rng.normal(size=(3, 3))) for _ in range(3)]
    forces = [rng.normal(size=(3, 3)) for _ in frames]
    return rotvar.evaluation(rotvar.structures(frames), rng.normal(size=3), forces, rng.normal(size=3),
                             [f + 0.1 * rng.normal(size=f.shape) for f in forces], model="model.pkl", mode=mode)


def _opt():
    """An opt result of eqt-opt --compare 2i on three structures."""
    ms, s = ("model", "structure"), ("structure",)
    e = np.array([[0.0, 3.0, 5.0], [0.0, 2.5, 5.5]])
    data = {"n_atoms": variable(s, [6, 6, 6], "1", "atoms"), "n_molecules": variable(s, [2, 2, 2], "1", "waters"),
            "relative_energy_initial": variable(ms, e + 1, "meV", "start"),
            "relative_energy": variable(ms, e, "meV", "relaxed"),
            "max_force": variable(ms, [[0.01, 0.02, 0.04], [0.01, 0.03, 0.02]], "electronvolt/angstrom", "max F")}
    coords = {"model": variable(("model",), ["plain", "2i"], "1", "model"),
              "structure": variable(s, np.arange(3), "1", "structure")}
    return results.finish(xr.Dataset(data, coords=coords), "opt", fmax=0.05)


# the validation errors of three epochs (eV, eV/Å, as eqt-train records them) of a second training stage
HISTORY = [{"epoch": k + 1, "loss": 1.0, "forces_mae": f, "energy_per_atom_mae": e, "rot_std_forces": r}
           for k, (f, e, r) in enumerate([(0.30, 0.02, 0.05), (0.20, 0.01, 0.03), (0.15, 0.005, 0.02)])]


def _model(path, training):
    """An eqt model file (small preset, random parameters) with the given training metadata."""
    import jax

    from eqt_model import config, model, modelfile

    cfg = config.preset("small", [1, 8])
    modelfile.save(path, cfg, model.init(jax.random.PRNGKey(0), cfg), training)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{result type: path of one result file}, and 'rdf2' a second rdf, from the commands on the
    example data (small selections) or from the library (rotvar, eval, opt)."""
    folder = tmp_path_factory.mktemp("results")
    out = {}
    for kind, (cmd, args, _) in COMMANDS.items():
        out[kind] = folder / f"example.{kind}.nc"
        result = run(cmd, args + ["-q", "-o", out[kind]])
        assert result.exit_code == 0, result.output
    out["rdf2"] = folder / "later.rdf.nc"
    assert run(rdf, [WATER, "--start", 300, "--stop", 320, "--pairs", "O-O,O-H", "--bins", 60, "--dipole", "-q", "-o", out["rdf2"]]
               ).exit_code == 0
    for kind, ds in {"rotvar": _rotvar(), "rotvar_properties": _rotvar(False), "eval": _eval("plain"),
                     "eval2": _eval("averaged on grid 2"), "opt": _opt()}.items():
        out[kind] = folder / f"example.{kind}.nc"
        ds.to_netcdf(out[kind])
    out["trajectory"] = WATER
    out["training"] = _model(folder / "model.pkl", {"history": HISTORY, "epochs": 3, "cumulative_epochs": 13,
                                                    "test_errors": {"forces_mae": 0.16, "energy_mae": 1.0}})
    return out


def _png_ok(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = plt.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 300
    assert image[..., :3].std() > 0.01  # not blank


@pytest.mark.parametrize("kind", sorted(PANELS))
def test_every_result_type_renders(files, tmp_path, kind):
    png = tmp_path / "fig.png"
    result = run(plot, [files[kind], "-o", png])
    assert result.exit_code == 0, result.output
    _png_ok(png)
    ds = plot.load(str(files[kind]))  # the same drawing on a bare figure: its panels counted
    fig = plt.figure()
    try:
        plots.DRAWERS[plots.result_type(ds)](fig, [ds], [None])
        assert len(fig.axes) == PANELS[kind]
        assert all(ax.get_ylabel() for ax in fig.axes)  # colour bars included
    finally:
        plt.close(fig)


def test_opt_comparison_panels_show_the_difference_and_the_distance():
    """eqt-opt --compare: the middle panel is the averaged model's relaxed relative energies minus
    the plain model's, the third the RMS distance between the relaxed structures."""
    ds = _opt()
    ds["rms_position_difference"] = variable(("compared", "structure"), [[0.01, 0.02, 0.005]], "angstrom", "RMS")
    ds = ds.assign_coords(compared=variable(("compared",), ["2i"], "1", "model"))
    fig = plt.figure()
    try:
        plots.draw_opt(fig, [ds], [None])
        assert len(fig.axes) == 3
        difference = [line for line in fig.axes[1].get_lines() if len(line.get_ydata()) == 3]
        np.testing.assert_allclose(difference[0].get_ydata(), [0.0, -0.5, 0.5])
        np.testing.assert_allclose(fig.axes[2].get_lines()[0].get_ydata(), [0.01, 0.02, 0.005])
    finally:
        plt.close(fig)


def test_rotvar_without_forces_and_two_orientation_maps_with_difference(files, tmp_path):
    assert run(plot, [files["rotvar_properties"], "-o", tmp_path / "r.png"]).exit_code == 0
    _png_ok(tmp_path / "r.png")
    maps = [xr.load_dataset(files["orient"])] * 2
    fig = plt.figure()
    plots.draw_orient(fig, maps, ["a", "b"])
    assert len(fig.axes) == 5  # two maps, their difference, two colour bars
    plt.close(fig)


@pytest.mark.parametrize("suffix, magic", [(".pdf", b"%PDF"), (".svg", b"<?xml"), (".PNG", b"\x89PNG")])
def test_pdf_and_svg_from_the_suffix(files, tmp_path, suffix, magic):
    out = tmp_path / f"fig{suffix}"
    result = run(plot, [files["rdf"], files["rdf2"], "-o", out])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(magic) and len(data) > 5000
    if suffix == ".svg":
        assert b"<svg" in data


def test_overlay_has_a_legend_with_both_labels(files, tmp_path):
    out = tmp_path / "o.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text kept as text, to be searched
        result = run(plot, [files["rdf"], files["rdf2"], "--label", "TIP3P", "--label", "later frames", "-o", out])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "TIP3P: O-O" in text and "later frames: O-O" in text
    fig = plt.figure()  # default labels: the file stems
    plots.draw_msd(fig, [xr.load_dataset(files["msd"])] * 2, ["example.msd", "other.msd"])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(t.startswith("example.msd: O") for t in legend) and any(t.startswith("other.msd: com") for t in legend)
    plt.close(fig)


def test_a_result_piped_in_on_stdin(files, tmp_path, monkeypatch):
    """`eqt-rdf ... -o - | eqt-plot - -o fig.png`: drawn as from the file, the copy of stdin removed;
    without -o, or with '-' twice, refused before reading."""
    out = tmp_path / "piped.png"
    result = CliRunner().invoke(plot.main, ["-", "-o", str(out)], input=files["rdf"].read_bytes())
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG"
    from eqt_cli import common

    assert all(not os.path.exists(p) for p in common._STDIN_COPIES)
    monkeypatch.chdir(tmp_path)
    for args, says in ((["-"], "needs -o FIGURE"), (["-", "-", "-o", "two.png"], "can be read once")):
        result = CliRunner().invoke(plot.main, args, input=files["rdf"].read_bytes())
        assert result.exit_code == 2 and says in result.stderr
    result = CliRunner().invoke(plot.main, ["-", "-o", "text.png"], input=b"not a result")
    assert result.exit_code == 2 and "-: neither a NetCDF file" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["piped.png"]


def test_learning_curve_counts_epochs_over_stages_in_mev(files, tmp_path):
    ds = plot.load(str(files["training"]))
    assert plots.result_type(ds) == "training"
    np.testing.assert_array_equal(ds["epoch"].values, [11, 12, 13])  # 10 epochs of earlier stages before these 3
    np.testing.assert_allclose(ds["forces_mae"].values, [300, 200, 150])
    np.testing.assert_allclose(ds["energy_per_atom_mae"].values, [20, 10, 5])
    assert ds["forces_mae"].attrs["units"] == "meV/Å" and ds.attrs["test_forces_mae"] == pytest.approx(160)
    assert "test_energy_per_atom_mae" not in ds.attrs  # only what the model file records
    first = _model(tmp_path / "first.pkl", {"history": HISTORY[:2]})  # no stage counts: epochs as recorded
    np.testing.assert_array_equal(plot.load(str(first))["epoch"].values, [1, 2])
    fig = plt.figure()
    try:
        plots.draw_training(fig, [plot.load(str(first)), ds], ["stage 1", "stage 2"])
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert legend == ["stage 1: best 200", "stage 2: best 150, held-out 160"]
        assert all(ax.get_yscale() == "log" for ax in fig.axes)
    finally:
        plt.close(fig)


def test_default_output_is_the_stem_and_a_rerun_replaces_it(files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(plot, [files["msd"]]).exit_code == 0
    _png_ok(tmp_path / "example.msd.png")
    assert run(plot, [files["msd"]]).exit_code == 0  # our own figure of the same input: replaced
    result = run(plot, [files["rotcorr"], "-o", "-"])  # '-': PNG on standard output
    assert result.exit_code == 0 and result.stdout_bytes[:4] == b"\x89PNG"
    (tmp_path / "example.rotcorr.png").write_bytes(b"mine")  # a foreign file under the default name is kept
    result = run(plot, [files["rotcorr"]])
    assert result.exit_code == 2 and "give -o" in result.stderr
    assert (tmp_path / "example.rotcorr.png").read_bytes() == b"mine"


def _bad(tmp_path, files, case):
    if case == "unknown type":
        path = tmp_path / "in" / "x.nc"
        xr.Dataset({"a": ("x", np.arange(3.0))}, attrs={"result_type": "hologram"}).to_netcdf(path)
        return [path], "result type 'hologram'"
    if case == "mixed types":
        return [files["rdf"], files["msd"]], "different types"
    if case == "not NetCDF":
        path = tmp_path / "in" / "x.nc"
        path.write_text("not a netcdf file\n")
        return [path], "neither a NetCDF file"
    if case == "model without history":
        return [_model(tmp_path / "in" / "m.pkl", {})], "without a training history"
    if case == "damaged model":
        path = tmp_path / "in" / "m.pkl"
        path.write_bytes(files["training"].read_bytes()[:200])
        return [path], "truncated"
    if case == "model and result":
        return [files["training"], files["rdf"]], "different types"
    if case == "bad suffix":
        return [files["rdf"], "-o", tmp_path / "out" / "fig.jpg"], ".jpg"
    if case == "missing file":
        return [tmp_path / "in" / "none.nc"], "no such file"
    if case == "labels":
        return [files["rdf"], files["rdf2"], "--label", "one"], "one --label per input"
    if case == "trajectory without energies":
        path = tmp_path / "in" / "t.nc"
        xr.Dataset({"coordinates": (("frame", "atom", "spatial"), np.zeros((2, 3, 3)))}).to_netcdf(path)
        return [path], "neither an eqt result"
    if case == "incomplete result":
        path = tmp_path / "in" / "r.nc"
        xr.load_dataset(files["rdf"]).drop_vars(["g", "g_err", "g_inter", "g_inter_err"]).to_netcdf(path)
        return [path], "not a complete rdf result"
    if case == "comparison":
        path = tmp_path / "in" / "c.nc"
        assert run(compare, [files["rdf"], files["rdf2"], "-o", path, "-q"]).exit_code == 0
        return [path], "eqt-compare A B --plot FIGURE"
    if case == "output is the input":
        link = tmp_path / "in" / "fig.png"  # a figure name that is the input under another name
        link.symlink_to(files["rdf"])
        return [files["rdf"], "-o", link], "overwrite the input"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["unknown type", "mixed types", "not NetCDF", "model without history", "damaged model",
                                  "model and result", "bad suffix", "missing file", "labels",
                                  "trajectory without energies", "incomplete result", "output is the input",
                                  "comparison"])
def test_bad_input_exits_2_with_one_line_and_no_output(files, tmp_path, monkeypatch, case):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    args, message = _bad(tmp_path, files, case)
    before = files["rdf"].read_bytes()
    monkeypatch.chdir(tmp_path / "out")  # where a default output would go
    if "-o" not in args:
        args = args + ["-o", tmp_path / "out" / "fig.png"]
    result = run(plot, args)
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("Error:") and message in errors[0], result.stderr
    assert "Traceback" not in result.output
    assert os.listdir(tmp_path / "out") == []
    assert files["rdf"].read_bytes() == before


def test_plots_module_does_not_import_matplotlib():
    """The commands import cli.plots; matplotlib loads only when something is drawn."""
    import subprocess
    import sys

    code = "import sys, eqt_cli.plots, eqt_cli.plot, eqt_cli.rdf; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_pretty_units():
    assert plots.pretty_units("angstrom^2/picosecond") == "Å²/ps"
    assert plots.pretty_units("(electronvolt)^2 cm") == "eV² cm"
    assert plots.pretty_units("amu*angstrom^2/picosecond") == "amu Å²/ps"
    assert plots.pretty_units("cm^-1") == "cm⁻¹" and plots.pretty_units("1") == ""
