"""Minimum-image pair search against ASE's neighbour list (an independent implementation)."""
import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from eqt_analysis.errors import InputError
from eqt_analysis.neighbors import pairs_within

from .conftest import TRICLINIC


@pytest.mark.parametrize("cell, r_cut", [(TRICLINIC * 2, 3.5), (TRICLINIC * 2, 8.5), (np.eye(3) * 7.0, 3.0)],
                         ids=["triclinic cell list", "triclinic all pairs", "cubic all pairs"])
def test_same_pairs_and_vectors_as_ase(cell, r_cut):
    rng = np.random.default_rng(0)
    pos = rng.random((400, 3)) @ cell
    i, j, vec = pairs_within(pos, cell, r_cut, np.arange(400))
    ref_i, ref_j, ref_d = neighbor_list("ijD", Atoms(positions=pos, cell=cell, pbc=True), r_cut)
    keep = ref_i < ref_j
    ours = {(a, b): v for a, b, v in zip(np.minimum(i, j), np.maximum(i, j), np.where((i < j)[:, None], vec, -vec))}
    ref = {(a, b): v for a, b, v in zip(ref_i[keep], ref_j[keep], ref_d[keep])}
    assert ours.keys() == ref.keys()
    np.testing.assert_allclose(np.array([ours[k] for k in ref]), np.array(list(ref.values())), atol=1e-10)
    # two groups: every a-b pair, in the a -> b direction
    a, b = np.arange(0, 400, 3), np.setdiff1d(np.arange(400), np.arange(0, 400, 3))
    ia, jb, _ = pairs_within(pos, cell, r_cut, a, b)
    mask = np.isin(ref_i, a) & np.isin(ref_j, b)
    assert set(zip(ia, jb)) == set(zip(ref_i[mask], ref_j[mask]))


def test_cutoff_beyond_half_the_cell_is_refused():
    with pytest.raises(InputError, match="half the smallest"):
        pairs_within(np.zeros((2, 3)), np.eye(3) * 10.0, 5.5, np.arange(2))


def test_cutoff_of_exactly_half_a_cell_length_is_taken():
    """r_cut = 6 Å in a 12 x 13.2 x 14.4 Å box: V / area gives a width of 11.999999999999998 Å, which must not
    refuse half of 12 Å; the pairs equal ASE's neighbour list."""
    rng = np.random.default_rng(3)
    cell = np.diag([12.0, 13.2, 14.4])
    pos = rng.random((60, 3)) @ cell
    i, j, vec = pairs_within(pos, cell, 6.0, np.arange(60))
    ref_i, ref_j = neighbor_list("ij", Atoms(positions=pos, cell=cell, pbc=True), 6.0)
    keep = ref_i < ref_j
    assert set(zip(np.minimum(i, j), np.maximum(i, j))) == set(zip(ref_i[keep], ref_j[keep]))
    with pytest.raises(InputError, match="half the smallest"):
        pairs_within(pos, cell, 6.0 + 1e-9, np.arange(60))
