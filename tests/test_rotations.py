"""Rotation grids (exactness, sizes, inversion) and rotational-error statistics from recorded data."""
import numpy as np
import pytest

from eqt_analysis import rdf, rotvar
from eqt_analysis.errors import InputError
from eqt_analysis.io import ipi
from eqt_model import rotations


def test_paper_grid_sizes_and_weights():
    sizes = [len(rotations.grid(g)[0]) for g in rotations.PAPER_GRIDS]
    assert sizes == [1, 2, 18, 36, 75, 150]
    for g in rotations.PAPER_GRIDS + ("lebedev26", "random10", "L4i"):
        rot, w = rotations.grid(g)
        assert w.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(np.abs(np.linalg.det(rot)), 1.0, atol=1e-12)
        np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rot.shape), atol=1e-12)
    rot, _ = rotations.grid("2i")
    assert np.sum(np.linalg.det(rot) < 0) == 18  # half are improper: the inversion


@pytest.mark.parametrize("order", [2, 3, 4])
def test_grid_averages_harmonics_exactly_up_to_2L_minus_2(order):
    """Average of Y_lm(R n) over the grid is 0 for 1 <= l <= 2L - 2, for any direction n."""
    rot, w = rotations.grid(f"L{order}")
    n = np.array([0.3, -0.5, 0.81])
    n /= np.linalg.norm(n)
    directions = rot @ n
    moments = w @ rdf.real_spherical_harmonics(directions)  # l = 1..4
    for c, (l, m) in enumerate(rdf.LM):
        if l <= 2 * order - 2:
            assert abs(moments[c]) < 1e-12, (order, l, m)
    if 2 * order - 1 <= rdf.L_MAX:  # and not beyond: degree 2L - 1 is not integrated exactly
        assert max(abs(moments[c]) for c, (l, _) in enumerate(rdf.LM) if l == 2 * order - 1) > 1e-6


def test_unknown_grid_is_refused():
    with pytest.raises(InputError, match="unknown grid"):
        rotations.grid("fancy")


def test_paper_numbers_from_recorded_replays(shared_data):
    """The data README: 5.09, 2.57, 0.56, 0.28, 0.16 meV (test set); 2.82, 1.06, 0.08, 0.05, 0.02 (molecule)."""
    for name, expected, atoms in (("testset-delta.out", [5.09, 2.57, 0.56, 0.28, 0.16], 192),
                                  ("molecule-delta.out", [2.82, 1.06, 0.08, 0.05, 0.02], 3)):
        table = rotvar.from_properties(ipi.read_properties(shared_data / "ipi" / name), n_atoms=atoms)
        np.testing.assert_allclose(table["mae"].values[:5], expected, atol=0.006)
        assert table["mae"].values[5] == 0.0
        assert np.all(table["mae_err"].values[:5] > 0)
        np.testing.assert_allclose(table["mae_per_atom"].values, table["mae"].values / atoms)
