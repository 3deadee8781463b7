"""Every result type read generically, through the schema only (docs/results.md): dimensions,
units and long names on everything, each `X_err` beside its `X`, result_type and version.
A generic reader (compare, plot, report) must need nothing else, so no variable name of any
result type appears below."""
from pathlib import Path

import ase.io
import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from eqt_analysis import io
from eqt_analysis.io.xyz import dataset_to_atoms
from eqt_analysis.results import SCHEMA_VERSION, schema_problems, values_and_errors
from eqt_cli import angmom, eval as eval_cmd, msd, opt, orient, rdf, rotcorr, rotvar, tcf, vdos

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example_data" / "water64_tip3p.nc"
MODEL = ROOT / "example_data" / "model-small.pkl"

RUNS = {  # result type -> (command, arguments after the input)
    "rdf": (rdf, ["--stop", 40, "--dipole", "--anisotropy", "--rmax", 5]),
    "orient": (orient, ["--stop", 40]),
    "angles": (orient, ["--stop", 5, "--per-molecule"]),
    "msd": (msd, ["--com", "--fit-start", 0.2, "--fit-stop", 0.6]),
    "rotcorr": (rotcorr, []),
    "vdos": (vdos, ["--fwhm", 20]),
    "tcf": (tcf, ["-v", "potential_energy"]),
    "angmom": (angmom, ["--drift-only"]),
}
MODEL_RUNS = {
    "eval": (eval_cmd, []),
    "rotvar": (rotvar, ["--grids", "1,i", "--n-random", 2]),
    "opt": (opt, ["--steps", 2, "--structures-out", "{tmp}/relaxed.xyz"]),  # {tmp}: the test's folder
}


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """One labelled 192-atom water frame (TIP3P energy and forces) as extxyz."""
    path = tmp_path_factory.mktemp("schema") / "one.xyz"
    ds = io.open_trajectory(EXAMPLE, stop=1).load()
    ase.io.write(path, dataset_to_atoms(ds), format="extxyz")
    return path


def produce(tmp_path, result_type, labelled):
    out = tmp_path / f"{result_type}.nc"
    if result_type in RUNS:
        cmd, extra = RUNS[result_type]
        args = [EXAMPLE, *extra]
    else:
        cmd, extra = MODEL_RUNS[result_type]
        args = [MODEL, labelled, *(str(a).replace("{tmp}", str(tmp_path)) for a in extra)]
    result = CliRunner().invoke(cmd.main, [str(a) for a in [*args, "-o", out, "-q"]])
    assert result.exit_code == 0, result.output
    return xr.open_dataset(out)


@pytest.mark.parametrize("result_type", [*RUNS, *MODEL_RUNS])
def test_every_result_type_reads_generically(tmp_path, labelled, result_type):
    ds = produce(tmp_path, result_type, labelled)
    assert ds.attrs["result_type"] == result_type
    assert ds.attrs["schema_version"] == SCHEMA_VERSION
    assert schema_problems(ds) == []
    assert ds.attrs["eqt_command"].startswith("eqt-") and ds.attrs["eqt_version"]
    pairs = values_and_errors(ds)
    assert pairs, "a result without values"
    for name, (value, error) in pairs.items():
        assert value.attrs["units"] and value.attrs["long_name"], name
        for dim in value.dims:  # every dimension is described: a coordinate with units, or a bare index
            if dim in ds.coords:
                assert "units" in ds[dim].attrs and "long_name" in ds[dim].attrs, (name, dim)
        if error is not None:
            assert error.dims == value.dims and error.attrs["units"] == value.attrs["units"], name
            finite = np.isfinite(error.values)
            assert np.all(error.values[finite] >= 0), f"{name}: negative standard errors"
