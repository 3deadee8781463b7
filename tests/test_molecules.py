"""Molecule grouping and making molecules whole, for any atom order and cell shape."""
import numpy as np
import pytest

from eqt_analysis import io, molecules, trajectory

from .conftest import TRICLINIC, water_molecules, wrap


def _same_partition(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :])


@pytest.mark.parametrize("cell", [np.diag([9.0, 10.0, 11.0]), TRICLINIC], ids=["orthorhombic", "triclinic"])
def test_grouping_and_whole_for_shuffled_split_molecules(cell):
    rng = np.random.default_rng(7)
    pos, numbers = water_molecules(8, cell, rng)
    truth = np.repeat(np.arange(8), 3)
    wrapped = wrap(pos, cell)
    split = np.any(np.abs(wrapped - pos) > 1e-9, axis=1)
    assert split.any()  # some molecules really cross the boundary
    order = rng.permutation(len(numbers))
    pos_s, num_s, truth_s = wrapped[order], numbers[order], truth[order]

    found = molecules.assign(num_s, pos_s, cell, [True] * 3)
    assert _same_partition(found, truth_s)
    assert found.min() == 0 and found.max() == 7
    # numbered by lowest atom index
    firsts = [np.flatnonzero(found == m)[0] for m in range(8)]
    assert firsts == sorted(firsts)

    parents, children = molecules.spanning_edges(num_s, pos_s, cell, [True] * 3)
    whole = molecules.make_whole(pos_s[None], cell[None], parents, children)[0]
    for m in range(8):
        members = np.flatnonzero(truth_s == m)
        # whole molecule = original molecule up to one lattice translation
        shift = whole[members] - pos[order][members]
        np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-9)
        frac = shift[0] @ np.linalg.inv(cell)
        np.testing.assert_allclose(frac, np.round(frac), atol=1e-9)

    waters = molecules.find_waters(num_s, pos_s, cell, [True] * 3)
    assert waters.shape == (8, 3)
    assert np.all(num_s[waters] == [8, 1, 1])
    assert _same_partition(np.repeat(np.arange(8), 3), found[waters.ravel()])  # each water one molecule


def test_open_system_has_no_periodic_bonds():
    rng = np.random.default_rng(3)
    pos, numbers = water_molecules(5, np.eye(3) * 30, rng)
    found = molecules.assign(numbers, pos)
    assert _same_partition(found, np.repeat(np.arange(5), 3))


def test_mdanalysis_triclinic_water_box():
    """tip125 in a triclinic box (MDAnalysisTests): molecules = the PSF's water residues."""
    datafiles = pytest.importorskip("MDAnalysisTests.datafiles")
    ds = trajectory.concat(io.iter_trajectory(datafiles.DCD_TRICLINIC, topology=datafiles.PSF_TRICLINIC))
    import MDAnalysis as mda

    u = mda.Universe(datafiles.PSF_TRICLINIC, datafiles.DCD_TRICLINIC)
    assert not np.all(np.abs(ds["cell"].values[0] - np.diag(np.diag(ds["cell"].values[0]))) < 1e-6)
    numbers, pos, cell = ds["atomic_number"].values, ds["positions"].values, ds["cell"].values
    found = molecules.assign(numbers, pos[0], cell[0], [True] * 3)
    assert _same_partition(found, u.atoms.resindices)
    parents, children = molecules.spanning_edges(numbers, pos[0], cell[0], [True] * 3)
    whole = molecules.make_whole(pos, cell, parents, children)
    for m in range(found.max() + 1):
        members = np.flatnonzero(found == m)
        span = np.linalg.norm(whole[:, members, None] - whole[:, None, members], axis=-1).max()
        assert span < 1.8  # Å: every water is whole in every frame
    assert len(molecules.find_waters(numbers, pos[0], cell[0], [True] * 3)) == 125


def test_find_waters_survives_a_stretched_bond(shared_data):
    """The first DFT frame of water_test.xyz has an O-H stretched beyond the bond cutoff:
    bonded grouping gives 63 molecules of 3 atoms, nearest-oxygen assignment finds all 64 waters."""
    ds = io.open_trajectory(shared_data / "water_test.xyz").isel(frame=0)
    args = (ds["atomic_number"].values, ds["positions"].values, ds["cell"].values, [True] * 3)
    assert np.sum(np.bincount(molecules.assign(*args)) == 3) == 63
    assert len(molecules.find_waters(*args)) == 64


def _ase_bonds(numbers, positions, cell, pbc, scale=1.2):
    """The reference: ASE's neighbour list with per-atom cutoffs scale x covalent radius."""
    from ase import Atoms
    from ase.data import covalent_radii
    from ase.neighborlist import neighbor_list

    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
    i, j = neighbor_list("ij", atoms, scale * covalent_radii[numbers], self_interaction=False)
    keep = i < j
    return np.unique(np.stack([i[keep], j[keep]], axis=1), axis=0).reshape(-1, 2)


@pytest.mark.parametrize("case", ["orthorhombic", "triclinic", "open", "slab", "tiny cell", "carbon"])
def test_bonds_equal_ases_neighbour_list(case):
    """eqt's cell-list bond search against ASE's neighbour list (the reference) on crowded random
    atoms: periodic cells of both shapes, an open system, a slab (pbc T T F) and a cell narrower
    than twice the cutoff (both handed to ASE), and a carbon-rich cutoff."""
    rng = np.random.default_rng(1)
    cells = {"orthorhombic": np.diag([9.0, 10.0, 11.0]), "triclinic": TRICLINIC, "open": None,
             "slab": np.diag([9.0, 10.0, 11.0]), "tiny cell": np.diag([2.1, 6.0, 6.0]), "carbon": TRICLINIC}
    cell = cells[case]
    n = 12 if case == "tiny cell" else 300
    numbers = rng.choice([1, 8, 6] if case == "carbon" else [1, 8], size=n)
    box = cell if cell is not None else np.eye(3) * 9.0
    positions = rng.random((n, 3)) @ box
    pbc = {"open": False, "slab": [True, True, False]}.get(case, True)
    ours = molecules.bonds(numbers, positions, cell, pbc)
    ref = _ase_bonds(numbers, positions, cell, pbc)
    assert len(ref) > n // 3
    np.testing.assert_array_equal(ours, ref)
    waters = molecules.find_waters(numbers, positions, cell, pbc)
    assert np.all(numbers[waters] == [8, 1, 1])


def test_a_few_atoms_in_a_huge_box_are_grouped_without_huge_memory():
    """Three waters in a 2 km periodic box (ASE's neighbour list would bin the whole box: 4 GB
    for 30 atoms in a 500 Å box): the bond search stays linear in the atoms."""
    import resource

    rng = np.random.default_rng(2)
    pos, numbers = water_molecules(3, np.eye(3) * 30, rng)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    found = molecules.assign(numbers, pos + 1000.0, np.eye(3) * 20000.0, [True] * 3)
    assert _same_partition(found, np.repeat(np.arange(3), 3))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # kB
