"""eqt-study: the plan reuses finished runs, the pipeline writes a report from real results and resumes, bad input."""
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import study

EXAMPLE = Path(__file__).resolve().parents[1] / "example_data"
MODEL = str(EXAMPLE / "model-small.pkl")
BOX = str(EXAMPLE / "water64_tip3p.nc")


def plan_lines(output):
    """{step name: 'done', 'running' or its expected time} from the plan eqt-study prints."""
    return {m.group(2): m.group(1) for m in re.finditer(r"^\s+(done|running|~[^ ]+ \w+)\s+(.+)$", output, re.M)}


def test_plan_reuses_finished_runs_and_times_the_reused_ones(tmp_path):
    res = CliRunner().invoke(study.main, [MODEL, "--bulk", BOX, "--runs", str(EXAMPLE / "md"),
                                          "-o", str(tmp_path / "report"), "--plan"])
    assert res.exit_code == 0, res.output
    plan = plan_lines(res.stderr)
    for name in ("md molecule plain", "md molecule 2i", "md bulk plain", "md bulk random"):
        assert plan[name] == "done", (name, plan)
    with __import__("numpy").load(EXAMPLE / "md" / "bulk_mts2i.nc.ckpt") as ckpt:
        finished = int(ckpt["state_step"]) >= 20000
    assert (plan["md bulk mts2i"] == "done") == finished
    # runs made elsewhere have no log with their speed: a short run of each measures it
    assert "cost bulk plain" in plan and "cost bulk random" in plan
    assert ("cost bulk mts2i" in plan) == finished
    assert {"rdf bulk plain", "compare bulk rdf mts2i", "compare bulk rdf random", "plot bulk rdf",
            "rotvar molecule frames", "rotvar bulk frames", "compare molecule angmom 2i"} <= set(plan)
    assert not (tmp_path / "report" / "results").exists()  # --plan runs nothing


def test_runs_made_with_another_model_are_refused(tmp_path):
    # the committed runs were made with MODEL; stage 2 is the same architecture with other parameters
    other = str(EXAMPLE / "model-stage2.pkl")
    for extra in ([], ["--plan"]):
        res = CliRunner().invoke(study.main, [other, "--bulk", BOX, "--runs", str(EXAMPLE / "md"),
                                              "-o", str(tmp_path / "report"), *extra])
        assert res.exit_code == 2, res.output
        assert "molecule_plain.nc, an MD run made with another model" in res.stderr
        assert not (tmp_path / "report").exists()


def test_a_run_that_another_process_writes_is_left_alone(tmp_path):
    from cli.outputs import hold_lock
    runs = tmp_path / "runs"
    runs.mkdir()
    for suffix in (".nc", ".nc.ckpt"):
        shutil.copy(EXAMPLE / "md" / ("molecule_plain" + suffix), runs / ("molecule_plain" + suffix))
    (runs / "molecule_2i.nc").write_bytes((EXAMPLE / "md" / "molecule_2i.nc").read_bytes()[:100000])  # unfinished
    lock = hold_lock(runs / "molecule_2i.nc")  # ... and being written by another eqt-md
    try:
        argv = [MODEL, "--molecule", str(EXAMPLE / "md" / "water_molecule.xyz"), "--runs", str(runs),
                "-o", str(tmp_path / "report"), "--plan"]
        res = CliRunner().invoke(study.main, argv)
        assert res.exit_code == 0, res.output
        plan = plan_lines(res.stderr)
        assert plan["md molecule plain"] == "done" and plan["md molecule 2i"] == "running"
    finally:
        lock.close()


@pytest.fixture(scope="module")
def molecule_study(tmp_path_factory):
    """The full study of the gas-phase molecule from copies of the two example runs (10 ps each)."""
    folder = tmp_path_factory.mktemp("study")
    runs = folder / "runs"
    runs.mkdir()
    for name in ("molecule_plain", "molecule_2i"):
        for suffix in (".nc", ".nc.ckpt"):
            shutil.copy(EXAMPLE / "md" / (name + suffix), runs / (name + suffix))
    import ase.io
    import numpy as np
    waters = [ase.io.read(EXAMPLE / "md" / "water_molecule.xyz") for _ in range(2)]
    for k, w in enumerate(waters):  # two distorted molecules stand in for the ice cells
        w.positions += np.random.default_rng(k).normal(scale=0.03, size=(3, 3))
    ase.io.write(folder / "ice.xyz", waters)
    argv = [MODEL, "--molecule", str(EXAMPLE / "md" / "water_molecule.xyz"), "--runs", str(runs),
            "--ice", str(folder / "ice.xyz"), "-o", str(folder / "report"), "-q"]
    res = CliRunner().invoke(study.main, argv)
    return folder / "report", argv, res


def test_molecule_study_writes_a_report_of_real_results(molecule_study):
    report, _, res = molecule_study
    assert res.exit_code == 0, res.output
    assert "0 done" not in res.stderr.splitlines()[0] and "md molecule plain" in res.stderr
    html = (report / "index.html").read_text()
    md = (report / "README.md").read_text()
    for label in ("conserved-energy drift, L, torque (angmom)", "−ln P(cos θ, φ) (orient)",
                  "rotational error along the run (rotvar)"):
        assert label in html and label in md
    # the averaged model removes the spurious torque on the isolated molecule: eqt-compare must see that
    import xarray as xr
    angmom = xr.open_dataset(report / "compare" / "molecule_angmom_2i_vs_plain.nc")
    assert angmom.attrs["differs"] == 1
    assert re.search(r"\| conserved-energy drift, L, torque \(angmom\) \| differs", md)
    figures = sorted(p.name for p in (report / "figures").glob("*.png"))
    assert len(figures) == 6 and all((report / "figures" / f).stat().st_size > 5000 for f in figures)
    assert html.count("<img ") == len(figures) and html.count("data:image/png;base64,") == len(figures)
    assert "Rotational error against grid size: molecule frames" in md
    assert "torque" in (report / "logs" / "rotvar_molecule_frames.txt").read_text()  # isolated molecule: its torque
    assert md.count("- [x] `") == md.count("- [") > 20  # every step done, its command line listed
    # the ice check (eqt-opt --compare 2i) keeps its result with the runs, like an MD run
    assert (report.parent / "runs" / "ice.opt.nc").exists() and not (report / "results" / "ice.opt.nc").exists()
    assert "Ice: relative energies" in md and "rms_diff[2i]" in md


def test_a_study_resumes_where_it_stopped(molecule_study):
    report, argv, _ = molecule_study
    res = CliRunner().invoke(study.main, argv)
    assert res.exit_code == 0 and ", 0 to run" in res.stderr.splitlines()[0]
    (report / "results" / "molecule_2i.orient.nc").unlink()
    res = CliRunner().invoke(study.main, argv)
    assert res.exit_code == 0, res.output
    assert ", 1 to run" in res.stderr.splitlines()[0] and (report / "results" / "molecule_2i.orient.nc").exists()
    (report / "logs" / "ice_relaxations.txt").unlink()  # as for an ice result made elsewhere: no table printed
    res = CliRunner().invoke(study.main, argv)
    assert res.exit_code == 0 and ", 0 to run" in res.stderr.splitlines()[0]
    assert "rms_diff[2i]" in (report / "README.md").read_text()  # the table, printed from the result
    res = CliRunner().invoke(study.main, argv + ["--quick"])  # other settings, same folder: refused
    assert res.exit_code == 2 and "holds a study made with other quick" in res.stderr


def test_ice_relaxations_made_with_another_model_are_refused(molecule_study, tmp_path):
    from cli.outputs import file_checksum
    import xarray as xr
    report, argv, _ = molecule_study
    with xr.open_dataset(report.parent / "runs" / "ice.opt.nc") as ds:
        assert ds.attrs["model_id"] == file_checksum(MODEL)
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy(report.parent / "runs" / "ice.opt.nc", runs / "ice.opt.nc")
    other = [str(EXAMPLE / "model-stage2.pkl"), "--molecule", str(EXAMPLE / "md" / "water_molecule.xyz"),
             "--runs", str(runs), "-o", str(tmp_path / "report"), "--plan"]
    res = CliRunner().invoke(study.main, other + ["--ice", str(report.parent / "ice.xyz")])
    assert res.exit_code == 2 and "holds ice.opt.nc, the ice relaxations made with another model" in res.stderr
    assert CliRunner().invoke(study.main, other).exit_code == 0  # without --ice the file is not used


def test_a_step_that_refuses_its_input_stops_the_study_with_exit_2(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for name in ("molecule_plain", "molecule_2i"):
        shutil.copy(EXAMPLE / "md" / f"{name}.nc.ckpt", runs / f"{name}.nc.ckpt")  # finished, say the checkpoints
        (runs / f"{name}.nc").write_text("not a trajectory\n")
    res = CliRunner().invoke(study.main, [MODEL, "--molecule", str(EXAMPLE / "md" / "water_molecule.xyz"),
                                          "--runs", str(runs), "-o", str(tmp_path / "report"), "-q"])
    assert res.exit_code == 2, res.output
    last = res.stderr.strip().splitlines()[-1]
    assert re.match(r"Error: step '\w+ molecule (plain|2i)' refused its input: .*molecule_(plain|2i).nc: ", last), last
    assert not list((tmp_path / "report" / "results").glob("*.nc"))


@pytest.mark.parametrize("args, message", [
    ([], "give --bulk STRUCTURE and/or --molecule STRUCTURE"),
    (["--bulk", str(EXAMPLE / "md" / "water_molecule.xyz")], "needs a periodic cell"),
    (["--bulk", "missing.xyz"], "missing.xyz: no such file"),
    (["--molecule", str(EXAMPLE / "md" / "water_molecule.xyz"), "--test-set", __file__], "test_study.py"),
    (["--molecule", BOX], "--molecule needs a structure in vacuum"),
])
def test_bad_input_is_refused_before_any_step(tmp_path, args, message):
    res = CliRunner().invoke(study.main, [MODEL, *args, "-o", str(tmp_path / "report")])
    assert res.exit_code == 2, res.output
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "report").exists()


def test_a_test_split_of_another_file_is_refused_before_any_step(tmp_path):
    """--test-split names structures of the model's training file: another file is refused up front (the
    rotvar step refused it halfway through the study), whether its split fits or not."""
    import ase.io
    from ase.build import molecule

    few, many = tmp_path / "few.xyz", tmp_path / "many.xyz"
    ase.io.write(few, [molecule("H2O")])
    ase.io.write(many, [molecule("H2O")] * 400)
    for path, message in ((few, "test split does not fit this file"), (many, "is not the file the model was trained on")):
        res = CliRunner().invoke(study.main, [MODEL, "--bulk", BOX, "--test-set", str(path), "--test-split", "--quick",
                                              "--plan", "-o", str(tmp_path / "report")])
        assert res.exit_code == 2 and message in res.stderr, res.output
        assert not (tmp_path / "report").exists()


def test_an_unreadable_model_is_refused(tmp_path):
    res = CliRunner().invoke(study.main, [__file__, "--bulk", BOX, "-o", str(tmp_path / "r")])
    assert res.exit_code == 2 and "test_study.py" in res.stderr and "refused to load model" in res.stderr


def test_report_tables_become_html_tables_that_may_wrap():
    """An aligned text table becomes an HTML table, every cell kept, headings breakable at '_' and
    '['; a ragged one stays preformatted text."""
    from eqt_cli.report import html_table

    text = "grid  energy_error[meV]  ±[meV]\n1       33.563  7.6786\n2i      0.21138  0.050214\n"
    out = html_table(text)
    assert out.startswith("<table") and out.count("<tr>") == 3 and out.count("<td>") == 6
    assert "<td>0.050214</td>" in out and "energy<wbr>_error<wbr>[meV]" in out
    assert html_table("a b\n1 2 3\n").startswith("<pre>")


def test_time_estimates_follow_the_model_size():
    """The plan's MD and rotvar estimates scale with the model: per atom and force evaluation, the small
    preset's measured 2.1e-4 s, the medium's 5.6-7.1e-4 s (MD steps of the quick study) and the paper
    preset's 3.4e-3 s (its evaluation of the 64-water box) on this project's 2-core CPU."""
    from eqt_model.config import PRESETS, ModelConfig

    cost = {name: study.seconds_per_atom(ModelConfig(species=(1, 8), **PRESETS[name])) for name in PRESETS}
    assert cost["small"] == pytest.approx(2.1e-4)
    assert 5.6e-4 / 1.2 < cost["medium"] < 7.1e-4 * 1.2
    assert 3.4e-3 / 1.5 < cost["paper"] < 3.4e-3 * 1.5
    small, medium = (study.steps(MODEL, BOX, None, None, None, "runs", study.QUICK, "report", atom_s=c)
                     for c in (cost["small"], cost["medium"]))
    for a, b in zip(small, medium):
        assert (a.estimate < b.estimate) == (a.program in ("eqt-md", "eqt-rotvar")), a.name
