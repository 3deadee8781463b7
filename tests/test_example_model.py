"""The committed example model: loads safely, reproduces its recorded test errors, and its
rotational breaking shrinks as the averaging grid grows."""
from pathlib import Path

import numpy as np
import pytest

MODEL = Path(__file__).resolve().parents[1] / "example_data" / "model.pkl"


def test_recorded_test_errors_are_reproduced(shared_data):
    from click.testing import CliRunner

    from eqt_cli import eval as eval_cli
    from eqt_model import modelfile

    _, _, meta = modelfile.load(MODEL)
    assert len(meta["split"]["test"]) >= 20
    result = CliRunner().invoke(eval_cli.main, [str(MODEL), str(shared_data / "water_test.xyz"), "--test-split",
                                                "-o", "/dev/null"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("forces, all atoms"))
    mae = float(row.split()[-2])  # meV/Å
    assert mae == pytest.approx(meta["test_errors"]["forces_mae"] * 1e3, rel=1e-3)


def test_breaking_decreases_with_grid_order():
    import jax

    from eqt_analysis import io
    from eqt_model import rotvar
    from eqt_model.calculator import Potential

    jax.config.update("jax_enable_x64", True)
    ds = io.open_trajectory(Path(MODEL).parent / "water64_tip3p.nc").isel(frame=[0]).load()
    items = [(p.astype(float), c, ds["atomic_number"].values, [True] * 3) for p, c in zip(ds["positions"].values, ds["cell"].values)]
    grids = ("1", "2", "3")
    out = rotvar.report(Potential(MODEL).over_rotations, items, n_random=2, grids=grids)
    finest = np.array(out["energy"]["3"])
    errors = [np.mean(np.abs(np.array(out["energy"][g]) - finest)) for g in grids[:-1]]
    assert errors[0] > errors[1] > 0, errors
