"""Cell conventions against ASE (independent implementation) and analytic cases."""
import numpy as np
import pytest
from ase.geometry import cell_to_cellpar, cellpar_to_cell

from eqt_analysis import cell

from .conftest import TRICLINIC


def test_lengths_angles_match_ase_both_ways():
    rng = np.random.default_rng(0)
    cells = np.array([TRICLINIC, np.diag([3.0, 4.0, 5.0])] +
                     [np.tril(rng.uniform(-3, 3, (3, 3))) + np.diag([10.0, 11.0, 12.0]) for _ in range(20)])
    lengths, angles = cell.lengths_angles(cells)
    for c, l, a in zip(cells, lengths, angles):
        np.testing.assert_allclose(np.r_[l, a], cell_to_cellpar(c), rtol=1e-12)
        np.testing.assert_allclose(cell.from_lengths_angles(l, a), cellpar_to_cell(np.r_[l, a]), atol=1e-12)
    # lower-triangular cells are rebuilt exactly from their lengths and angles
    np.testing.assert_allclose(cell.from_lengths_angles(lengths, angles), cells, atol=1e-12)


def test_volume_and_widths_analytic():
    c = np.diag([3.0, 4.0, 5.0])
    assert cell.volume(c) == pytest.approx(60.0, rel=1e-14)
    np.testing.assert_allclose(cell.perpendicular_widths(c), [3.0, 4.0, 5.0])
    # a sheared cell keeps the volume; its widths are the face distances, not the lengths
    sheared = np.array([[10.0, 0, 0], [5.0, 10.0, 0], [0, 0, 10.0]])
    assert cell.volume(sheared) == pytest.approx(1000.0, rel=1e-14)
    np.testing.assert_allclose(cell.perpendicular_widths(sheared), [10 / np.sqrt(1.25), 10.0, 10.0])
