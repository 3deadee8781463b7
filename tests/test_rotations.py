"""Rotation grids (exactness, sizes, inversion, names), random rotations, and rotational-error
statistics from recorded data."""
import numpy as np
import pytest
from click.testing import CliRunner

from eqt_analysis import harmonics
from eqt_analysis.errors import InputError
from eqt_analysis.io import ipi
from eqt_analysis.results import schema_problems
from eqt_model import rotations, rotvar


def test_paper_grid_sizes_and_weights():
    assert [len(rotations.grid(g)) for g in rotations.PAPER_GRIDS] == [1, 2, 18, 36, 75, 150]
    for name in rotations.PAPER_GRIDS + ("lebedev26", "L4i", "5"):
        g = rotations.grid(name)
        assert g.name == name and g.weights.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(np.abs(np.linalg.det(g.rotations)), 1.0, atol=1e-12)
        np.testing.assert_allclose(g.rotations @ g.rotations.transpose(0, 2, 1),
                                   np.broadcast_to(np.eye(3), g.rotations.shape), atol=1e-12)
    assert np.sum(np.linalg.det(rotations.grid("2i").rotations) < 0) == 18  # half are improper: the inversion
    np.testing.assert_array_equal(rotations.IDENTITY.rotations, np.eye(3)[None])


@pytest.mark.parametrize("order", [2, 3, 4])
def test_grid_averages_harmonics_exactly_up_to_2L_minus_2(order):
    """Average of Y_lm(R n) over the grid is 0 for 1 <= l <= 2L - 2, for any direction n."""
    g = rotations.grid(f"L{order}")
    n = np.array([0.3, -0.5, 0.81])
    n /= np.linalg.norm(n)
    moments = g.weights @ harmonics.real_spherical_harmonics(g.rotations @ n)  # l = 1..4
    for c, (l, m) in enumerate(harmonics.LM):
        if l <= 2 * order - 2:
            assert abs(moments[c]) < 1e-12, (order, l, m)
    if 2 * order - 1 <= harmonics.L_MAX:  # and not beyond: degree 2L - 1 is not integrated exactly
        assert max(abs(moments[c]) for c, (l, _) in enumerate(harmonics.LM) if l == 2 * order - 1) > 1e-6


def test_unknown_random_and_huge_grids_are_refused():
    with pytest.raises(InputError, match="unknown grid 'fancy': use 1, i, 2"):
        rotations.grid("fancy")
    with pytest.raises(InputError, match="not a grid.*--random-rotation"):
        rotations.grid("random10")
    for name in ("0", "L100000"):
        with pytest.raises(InputError, match="order"):
            rotations.grid(name)


def test_random_rotations_are_uniform_rotations():
    import jax

    with jax.enable_x64(True):
        rots = np.asarray(rotations.random_rotations(jax.random.PRNGKey(0), 4000))
        improper = np.asarray(rotations.random_rotations(jax.random.PRNGKey(1), 400, inversion=True))
    np.testing.assert_allclose(rots @ rots.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rots.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rots), 1.0, atol=1e-12)
    np.testing.assert_allclose(rots.mean(axis=0), 0.0, atol=0.04)  # E[R] = 0 for the uniform (Haar) measure
    np.testing.assert_allclose(np.einsum("kab,kab->k", rots, rots).mean(), 3.0)
    assert 150 < np.sum(np.linalg.det(improper) < 0) < 250


def test_a_bad_grid_stops_a_command_before_anything_is_loaded(tmp_path):
    from eqt_cli import eval as eval_cli
    from eqt_cli import rotvar as rotvar_cli

    missing = str(tmp_path / "no-such-model.pkl")
    for cli, args in ((eval_cli, [missing, missing, "--average", "nosuchgrid"]),
                      (rotvar_cli, [missing, missing, "--grids", "1,nosuchgrid"]),
                      (rotvar_cli, [missing, missing, "--grids", "1,2,1"]),
                      (rotvar_cli, [missing, missing, "--grids", "2i,1"])):  # the reference must be the finest
        result = CliRunner().invoke(cli.main, args)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "grid" in lines[0] and "no-such-model" not in lines[0], lines
    result = CliRunner().invoke(rotvar_cli.main, [missing, missing, "--grids", "1,3,2i"])
    assert "the last grid is the reference, but 3 has more rotations than 2i (36)" in result.stderr
    result = CliRunner().invoke(eval_cli.main, [missing, missing, "--average", "random"])
    assert result.exit_code == 2 and "--random-rotation" in result.stderr


def test_paper_numbers_from_recorded_replays(shared_data):
    """The data README: 5.09, 2.57, 0.56, 0.28, 0.16 meV (test set); 2.82, 1.06, 0.08, 0.05, 0.02 (molecule)."""
    for name, expected, atoms in (("testset-delta.out", [5.09, 2.57, 0.56, 0.28, 0.16], 192),
                                  ("molecule-delta.out", [2.82, 1.06, 0.08, 0.05, 0.02], 3)):
        table = rotvar.from_properties(ipi.read_properties(shared_data / "ipi" / name), n_atoms=atoms)
        assert schema_problems(table) == [] and table.attrs["result_type"] == "rotvar"
        assert list(table["grid"].values) == list(rotations.PAPER_GRIDS)
        np.testing.assert_allclose(table["energy_error"].values[:5], expected, atol=0.006)
        assert table["energy_error"].values[5] == 0.0 and table["energy_error"].attrs["units"] == "meV"
        assert np.all(table["energy_error_err"].values[:5] > 0)
        np.testing.assert_allclose(table["energy_error_per_atom"].values, table["energy_error"].values / atoms)
