"""RDFs against MDAnalysis InterRDF, a slow NumPy reference, analytic cases and invariances."""
import itertools

import numpy as np
import pytest

from eqt_analysis import io, molecules, rdf
from eqt_analysis import cell as cellmod
from eqt_analysis.errors import InputError
from eqt_analysis.system import System

from .conftest import TRICLINIC, wrap


def _count_tolerance(distances_near_edges, edges, eps=5e-6):
    """Pairs within eps Å of a bin edge (float32 inputs: either bin is right)."""
    return np.array([np.sum(np.abs(distances_near_edges - e) < eps) for e in edges[1:]]) + \
        np.array([np.sum(np.abs(distances_near_edges - e) < eps) for e in edges[:-1]])


def _system(numbers, positions, cell, molecule=None):
    return System(numbers, positions, cell, pbc=(True, True, True), molecule=molecule, source="test.nc")


# MDAnalysis InterRDF keywords that match eqt's normalizations, for water atoms ordered O, H, H:
# exclusion_block subtracts the excluded pairs (i = j, or within a molecule) from N_pair ('ideal');
# exclude_same keeps N_a N_b ('pairs')
PER_WATER = {"O": 1, "H": 2}
CONVENTIONS = [(False, "ideal"), (True, "ideal"), (True, "pairs")]


def _mdanalysis_keywords(a, b, exclude, normalization):
    if exclude:
        return {"exclude_same": "residue"} if normalization == "pairs" else \
            {"exclusion_block": (PER_WATER[a], PER_WATER[b])}
    return {"exclusion_block": (1, 1)} if a == b else {}


@pytest.mark.parametrize("exclude, normalization", CONVENTIONS)
def test_matches_mdanalysis_interrdf_on_triclinic_water(exclude, normalization):
    import MDAnalysis as mda
    from MDAnalysis.analysis.rdf import InterRDF
    from MDAnalysisTests.datafiles import DCD_TRICLINIC, PSF_TRICLINIC

    ds = io.open_trajectory(DCD_TRICLINIC, topology=PSF_TRICLINIC)
    u = mda.Universe(PSF_TRICLINIC, DCD_TRICLINIC)
    groups = {"O": u.select_atoms("name OH2"), "H": u.select_atoms("name H1 H2")}
    numbers = ds["atomic_number"].values
    system = System.from_dataset(ds, "triclinic.dcd")  # molecules: bonded groups of the first frame
    r_max, bins = 4.0, 80  # MDAnalysis' grid search refuses more for this shrinking cell
    for a, b in [("O", "O"), ("O", "H"), ("H", "H")]:
        same = a == b
        ours = rdf.RDF(system, f"{a}-{b}", r_max, bins, exclude_intramolecular=exclude, normalization=normalization)
        ours.add_chunk(ds)
        ref = InterRDF(groups[a], groups[b], nbins=bins, range=(0.0, r_max),
                       **_mdanalysis_keywords(a, b, exclude, normalization)).run()
        got = ours.result()["g"].sel(pair=f"{a}-{b}").values
        counts = ours.blocks.total["counts"][0]
        differ = counts != ref.results.count
        if differ.any():  # only pairs within float32 rounding of a bin edge may move
            from eqt_analysis.neighbors import pairs_within
            near = []
            for pos, box in zip(ds["positions"].values, ds["cell"].values):
                ia, ib = np.flatnonzero(numbers == (8 if a == "O" else 1)), np.flatnonzero(numbers == (8 if b == "O" else 1))
                _, _, vec = pairs_within(pos, box, r_max + 0.1, ia, None if same else ib)
                near.append(np.linalg.norm(vec, axis=1))
            allowed = _count_tolerance(np.concatenate(near), ours.edges) * (2 if same else 1)
            assert np.all(np.abs(counts - ref.results.count) <= allowed), (a, b)
            got, want = got[~differ], ref.results.rdf[~differ]
        else:
            want = ref.results.rdf
        nonzero = want > 0
        np.testing.assert_allclose(got[nonzero], want[nonzero], rtol=1e-6)
        assert np.all(got[~nonzero] == 0)


def _minimum_image(d, cell):
    """Brute force: the shortest of the 125 images (Å)."""
    shifts = np.array(list(itertools.product(range(-2, 3), repeat=3))) @ cell
    cands = d[..., None, :] + shifts
    k = np.argmin(np.linalg.norm(cands, axis=-1), axis=-1)
    return np.take_along_axis(cands, k[..., None, None], axis=-2)[..., 0, :]


def _reference(frames, cells, numbers, waters, r, h, a_is_b=True):
    """Slow obvious NumPy: every O-O pair, Gaussian kernel g, c_L, c_T (same normalization)."""
    oxygens = np.flatnonzero(numbers == 8)
    n = len(oxygens)
    g, cl, ct = np.zeros_like(r), np.zeros_like(r), np.zeros_like(r)
    for pos, cell in zip(frames, cells):
        hh = [_minimum_image(pos[w[1:]] - pos[w[0]], cell) for w in waters]
        u = np.array([(v[0] + v[1]) / 2 for v in hh])
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        u_of = {w[0]: uu for w, uu in zip(waters, u)}
        for i in oxygens:
            for j in oxygens:
                if i == j:
                    continue
                vec = _minimum_image(pos[j] - pos[i], cell)
                d = np.linalg.norm(vec)
                kern = np.exp(-0.5 * ((r - d) / h) ** 2) / (h * np.sqrt(2 * np.pi))
                rhat = vec / d
                lon = (rhat @ u_of[i]) * (rhat @ u_of[j])
                g += kern
                cl += kern * lon
                ct += kern * (u_of[i] @ u_of[j] - lon)
    volume = np.mean([abs(np.linalg.det(c)) for c in cells])
    norm = len(frames) * 4 * np.pi * r**2 * n * (n - 1) / volume
    return g / norm, cl / norm, ct / norm


def _water_box(n_frames=3, seed=5, n_mol=16):
    """Waters at random places (O-O >= 2.6 Å, rejection sampling) and orientations, wrapped."""
    rng = np.random.default_rng(seed)
    r, theta = 0.9572, np.radians(104.52)
    local = np.array([[0, 0, 0], [r, 0, 0], [r * np.cos(theta), r * np.sin(theta), 0]])
    frames, cells = [], []
    for k in range(n_frames):
        cell = TRICLINIC * 1.2 * (1 + 0.01 * k)
        centres = []
        while len(centres) < n_mol:
            c = rng.random(3) @ cell
            if all(np.linalg.norm(_minimum_image(c - o, cell)) > 2.6 for o in centres):
                centres.append(c)
        pos = np.concatenate([c + local @ np.linalg.qr(rng.normal(size=(3, 3)))[0].T for c in centres])
        frames.append(wrap(pos, cell))
        cells.append(cell)
    return np.array(frames), np.array(cells), np.tile([8, 1, 1], n_mol)


def test_kernel_estimate_and_dipole_correlations_match_numpy_reference():
    frames, cells, numbers = _water_box()
    system = _system(numbers, frames[0], cells[0])
    r_max, bins, h = 5.0, 50, 0.1
    ours = rdf.RDF(system, "O-O", r_max, bins, bandwidth=h, dipole=True)
    for pos, cell in zip(frames, cells):
        ours.add(pos, cell)
    res = ours.result().sel(pair="O-O")
    g, cl, ct = _reference(frames, cells, numbers, system.waters, res["r"].values, h)
    # the reference keeps the whole Gaussian; eqt cuts it at 5 h (exp(-12.5) = 4e-6 of its peak)
    tol = 1e-5 * g.max()
    np.testing.assert_allclose(res["g"].values, g, rtol=1e-9, atol=tol)
    np.testing.assert_allclose(res["c_L"].values, cl, rtol=1e-9, atol=tol)
    np.testing.assert_allclose(res["c_T"].values, ct, rtol=1e-9, atol=tol)
    assert g.max() > 0.1 and np.abs(cl).max() > 1e-3  # the check is not vacuous


def test_invariant_under_permutation_translation_and_rotation():
    from scipy.spatial.transform import Rotation

    frames, cells, numbers = _water_box(seed=9)
    mol = molecules.assign(numbers, frames[0], cells[0], [True] * 3)

    def run(frames, cells, numbers, mol):
        calc = rdf.RDF(_system(numbers, frames[0], cells[0], mol), "O-O,O-H,H-H", 4.0, 40, bandwidth=0.2,
                       dipole=True, anisotropy=True)
        for pos, cell in zip(frames, cells):
            calc.add(pos, cell)
        return calc.result()

    base = run(frames, cells, numbers, mol)
    perm = np.random.default_rng(0).permutation(len(numbers))
    rot = Rotation.from_euler("zyx", [30, 50, 70], degrees=True).as_matrix()
    variants = {
        "permutation": run(frames[:, perm], cells, numbers[perm], mol[perm]),
        "translation": run(frames + np.array([3.3, -7.1, 12.9]), cells, numbers, mol),
        "rotation": run(frames @ rot.T, cells @ rot.T, numbers, mol),
    }
    for name, other in variants.items():
        for key in ("g", "g_inter", "c_L", "c_T", "n", "Q"):
            np.testing.assert_allclose(other[key].values, base[key].values, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name}: {key}")
    odd = [c for c, (l, _) in enumerate(rdf.LM) if l % 2]  # an a-a pair counts as i->j and j->i
    assert np.all(np.nan_to_num(base["ylm"].sel(pair=["O-O", "H-H"]).values[:, odd]) == 0)
    # lab-frame moments themselves do change under rotation (that is what they measure)
    assert not np.allclose(variants["rotation"]["ylm"].values, base["ylm"].values, equal_nan=True)


def test_ideal_gas_gives_one_with_honest_errors():
    rng = np.random.default_rng(2)
    numbers = np.full(600, 18)
    first = rng.random((600, 3)) @ TRICLINIC * 1.1
    calc = rdf.RDF(_system(numbers, first, TRICLINIC * 1.1), r_max=5.0, bins=25, block_frames=4)
    for _ in range(40):
        calc.add(rng.random((600, 3)) @ TRICLINIC * 1.1, TRICLINIC * 1.1)
    res = calc.result().sel(pair="Ar-Ar")
    g, err = res["g"].values[5:], res["g_err"].values[5:]
    assert abs(np.mean(g) - 1) < 0.01
    z = (g - 1) / err
    assert np.mean(np.abs(z) < 3) > 0.9 and np.all(np.isfinite(err))
    n = res["n"].values
    density = 599 / abs(np.linalg.det(TRICLINIC * 1.1))
    np.testing.assert_allclose(n[-1], density * 4 / 3 * np.pi * 5.0**3, rtol=0.03)


def test_ideal_gas_of_molecules_gives_one_with_intramolecular_pairs_excluded():
    """Waters placed and turned at random in every frame (an ideal gas of molecules): the
    intermolecular O-H and H-H g(r) are 1 because the excluded pairs also leave N_pair
    (MDAnalysis' exclusion_block); keeping them in N_pair would give (N_H - 2) / N_H = 0.9375
    and (N_H - 2) / (N_H - 1) = 0.968 for these 16 waters."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(7)
    n_mol, n_frames, box = 16, 400, np.eye(3) * 14.0
    r, theta = 0.9572, np.radians(104.52)
    local = np.array([[0, 0, 0], [r, 0, 0], [r * np.cos(theta), r * np.sin(theta), 0]])
    turns = Rotation.random(n_frames * n_mol, random_state=rng).as_matrix().reshape(n_frames, n_mol, 3, 3)
    frames = (rng.random((n_frames, n_mol, 1, 3)) * 14.0 + np.einsum("fmij,aj->fmai", turns, local))
    frames = frames.reshape(n_frames, -1, 3)
    numbers = np.tile([8, 1, 1], n_mol)
    calc = rdf.RDF(_system(numbers, frames[0], box, np.repeat(np.arange(n_mol), 3)), "O-H,H-H", 6.0, 10,
                   exclude_intramolecular=True)
    calc.add_frames(frames, np.broadcast_to(box, (n_frames, 3, 3)))
    res = calc.result()
    np.testing.assert_array_equal(res["pair_count"].values, [16 * 32 - 32, 32 * 32 - 64])
    np.testing.assert_allclose(res["g"].values[:, 2:].mean(axis=1), 1.0, atol=0.015)  # r > 1.2 Å


def test_g_inter_is_the_excluded_g_under_the_other_pair_count():
    frames, cells, numbers = _water_box()
    system = _system(numbers, frames[0], cells[0])
    full, excluded = (rdf.RDF(system, "O-O,O-H,H-H", 4.0, 40, exclude_intramolecular=e) for e in (False, True))
    for calc in (full, excluded):
        calc.add_frames(frames, cells)
    a, b = full.result(), excluded.result()
    assert "g_inter" not in b and (a["g"] > a["g_inter"]).any()
    np.testing.assert_allclose(a["g_inter"] * a["pair_count"], b["g"] * b["pair_count"], rtol=1e-12)
    np.testing.assert_array_equal(a["pair_count"].values, [16 * 15, 16 * 32, 32 * 31])
    assert b.attrs["normalization_convention"].endswith("as MDAnalysis InterRDF exclusion_block")


def test_simple_cubic_lattice_has_steinhardt_q4():
    """Nearest-neighbour pair directions of a simple cubic crystal: Q_4 = 0.7638 (Steinhardt)."""
    a, n = 3.0, 5
    grid = np.array(list(itertools.product(range(n), repeat=3)), float) * a
    calc = rdf.RDF(_system(np.full(len(grid), 18), grid, np.eye(3) * a * n), r_max=7.0, bins=70, anisotropy=True)
    calc.add(grid, np.eye(3) * a * n)
    res = calc.result()
    shell = np.argmin(np.abs(res["r"].values - a))
    q = res["Q"].sel(pair="Ar-Ar").values[:, shell]
    np.testing.assert_allclose(q, [0.0, 0.0, 0.0, np.sqrt(7 / 12)], atol=1e-12)


def test_chunked_accumulation_equals_single_pass():
    frames, cells, numbers = _water_box(n_frames=6)
    system = _system(numbers, frames[0], cells[0])
    one = rdf.RDF(system, "O-H", 4.0, 40, block_frames=2)
    for pos, cell in zip(frames, cells):
        one.add(pos, cell)
    two = rdf.RDF(system, "O-H", 4.0, 40, block_frames=2)
    import xarray as xr
    for lo in (0, 4):
        chunk = xr.Dataset({"positions": (("frame", "atom", "spatial"), frames[lo:lo + 4]),
                            "cell": (("frame", "cell_vector", "spatial"), cells[lo:lo + 4])})
        two.add_chunk(chunk)
    a, b = one.result(), two.result()
    for key in ("g", "g_err", "g_inter", "n"):
        np.testing.assert_array_equal(a[key].values, b[key].values)


def test_refuses_cutoff_beyond_half_cell():
    frames, cells, numbers = _water_box(n_frames=1)
    calc = rdf.RDF(_system(numbers, frames[0], cells[0]), "O-O", r_max=8.0, bins=10)
    with pytest.raises(InputError, match="half the smallest perpendicular"):
        calc.add(frames[0], cells[0])
    with pytest.raises(InputError, match="periodic cell"):
        calc.add(frames[0], None)
    # the kernel reaches 5 bandwidths beyond r_max: the message says so, and the r_max it suggests works
    limit = float(np.min(cellmod.minimum_image_limit(cells[0])))
    calc = rdf.RDF(_system(numbers, frames[0], cells[0]), "O-O", r_max=limit - 0.1, bins=10, bandwidth=0.05)
    with pytest.raises(InputError, match=r"r_max \+ 5 bandwidths of the kernel .*use r_max at most") as err:
        calc.add(frames[0], cells[0])
    suggested = float(str(err.value).split("use r_max at most ")[1].split(" Å")[0])
    rdf.RDF(_system(numbers, frames[0], cells[0]), "O-O", r_max=suggested, bins=10, bandwidth=0.05).add(frames[0], cells[0])


EXAMPLE = __import__("pathlib").Path(__file__).resolve().parents[1] / "example_data" / "water64_tip3p.nc"


@pytest.mark.parametrize("exclude, normalization", CONVENTIONS)
def test_matches_mdanalysis_interrdf_on_orthorhombic_example(exclude, normalization):
    """eqt's own TIP3P box (orthorhombic), read by MDAnalysis from the .nc eqt wrote."""
    import MDAnalysis as mda
    from MDAnalysis.analysis.rdf import InterRDF

    ds = io.open_trajectory(EXAMPLE).isel(frame=slice(0, 100)).load()
    u = mda.Universe.empty(ds.sizes["atom"], n_residues=64, atom_resindex=ds["molecule"].values,
                           trajectory=True)
    from MDAnalysis.coordinates.TRJ import NCDFReader
    u.trajectory = NCDFReader(str(EXAMPLE))
    numbers = ds["atomic_number"].values
    sel = {"O": u.atoms[numbers == 8], "H": u.atoms[numbers == 1]}
    system = System.from_dataset(ds, str(EXAMPLE))
    for a, b in [("O", "O"), ("O", "H"), ("H", "H")]:
        ours = rdf.RDF(system, f"{a}-{b}", 6.0, 120, exclude_intramolecular=exclude, normalization=normalization)
        ours.add_chunk(ds)
        ref = InterRDF(sel[a], sel[b], nbins=120, range=(0.0, 6.0),
                       **_mdanalysis_keywords(a, b, exclude, normalization)).run(stop=100)
        counts = ours.blocks.total["counts"][0]
        assert np.abs(counts - ref.results.count).sum() <= 2 * 2  # at most a pair on a bin edge
        same_bins = (counts == ref.results.count) & (ref.results.count > 0)
        np.testing.assert_allclose(ours.result()["g"].sel(pair=f"{a}-{b}").values[same_bins],
                                   ref.results.rdf[same_bins], rtol=1e-6)
        assert same_bins.sum() > 60


def _ase_pair_vectors(numbers, positions, cell, cutoff, a, b):
    """(i, j, D) of every ordered pair a-b within cutoff over all periodic images, own images included
    (ASE's neighbour list: an independent image search)."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    i, j, vec = neighbor_list("ijD", Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True), cutoff,
                              self_interaction=False)
    keep = (numbers[i] == a) & (numbers[j] == b)
    return i[keep], j[keep], vec[keep]


def test_all_images_count_every_periodic_pair_like_ase_in_a_small_triclinic_cell():
    """Two rocksalt primitive cells (4 atoms, triclinic, perpendicular width 3.26 Å) at r_max 7 Å: pair
    counts of all three pairs, own images included, equal ASE's neighbour list over 3 strained, rattled
    frames."""
    from ase.build import bulk

    base = bulk("NaCl", "rocksalt", a=5.64).repeat((2, 1, 1))
    rng = np.random.default_rng(3)
    frames = [(base.positions + rng.normal(scale=0.1, size=(4, 3)), base.cell.array @ (np.eye(3) + rng.normal(
        scale=0.02, size=(3, 3)))) for _ in range(3)]
    numbers = base.numbers
    r_max, bins = 7.0, 70
    calc = rdf.RDF(_system(numbers, frames[0][0], frames[0][1]), "Na-Na,Na-Cl,Cl-Cl", r_max, bins,
                   all_images=True)
    calc.add_frames(np.array([p for p, _ in frames]), np.array([c for _, c in frames]))
    res = calc.result()
    with pytest.raises(InputError, match="half the smallest"):
        rdf.RDF(_system(numbers, frames[0][0], frames[0][1]), "Na-Na", r_max, bins).add(*frames[0])
    edges = np.linspace(0, r_max, bins + 1)
    for pair, (a, b) in {"Na-Na": (11, 11), "Na-Cl": (11, 17), "Cl-Cl": (17, 17)}.items():
        hist = sum(np.histogram(np.linalg.norm(_ase_pair_vectors(numbers, p, c, r_max, a, b)[2], axis=1), edges)[0]
                   for p, c in frames)
        assert hist.sum() > 100  # many images of few atoms
        np.testing.assert_allclose(res["n"].sel(pair=pair).values, np.cumsum(hist) / (3 * 2), rtol=0, atol=1e-12)
        volume = np.mean([abs(np.linalg.det(c)) for _, c in frames])
        shell = 4 / 3 * np.pi * np.diff(edges**3)
        expected = hist / (3 * shell * float(res["pair_count"].sel(pair=pair)) / volume)
        np.testing.assert_allclose(res["g"].sel(pair=pair).values, expected, rtol=1e-10, atol=1e-12)


def test_all_images_dipole_correlations_match_an_ase_reference_beyond_half_the_box():
    """The 64-water example box (12.4 Å) at r_max 8 Å: O-O g, c_L and c_T from every image equal a NumPy
    sum over ASE's image pairs with eqt's dipole axes; below half the box they equal the usual result."""
    ds = io.open_trajectory("example_data/water64_tip3p.nc").isel(frame=slice(0, 3)).load()
    pos, cells, z = ds["positions"].values, ds["cell"].values, ds["atomic_number"].values
    system = System.from_dataset(ds, "example")
    r_max, bins = 8.0, 80
    calc = rdf.RDF(system, "O-O", r_max, bins, dipole=True, all_images=True)
    calc.add_frames(pos, cells)
    res = calc.result()
    waters = system.require_waters("test")
    edges = np.linspace(0, r_max, bins + 1)
    sums = np.zeros((3, bins))
    for f in range(3):
        u = np.zeros((len(z), 3))
        u[waters[:, 0]] = molecules.water_dipole_axes(pos[f], cells[f], waters)
        i, j, vec = _ase_pair_vectors(z, pos[f], cells[f], r_max, 8, 8)
        d = np.linalg.norm(vec, axis=1)
        longitudinal = np.einsum("pk,pk->p", vec, u[i]) * np.einsum("pk,pk->p", vec, u[j]) / d**2
        transverse = np.einsum("pk,pk->p", u[i], u[j]) - longitudinal
        for row, values in enumerate((np.ones_like(d), longitudinal, transverse)):
            sums[row] += np.histogram(d, edges, weights=values)[0]
    volume = np.mean(np.abs(np.linalg.det(cells)))
    norm = 3 * 4 / 3 * np.pi * np.diff(edges**3) * float(res["pair_count"][0]) / volume
    for row, name in enumerate(("g", "c_L", "c_T")):
        np.testing.assert_allclose(res[name].values[0], sums[row] / norm, rtol=1e-8, atol=1e-8)  # rounding
    usual = rdf.RDF(system, "O-O", 6.0, 60, dipole=True)
    usual.add_frames(pos, cells)
    images = rdf.RDF(system, "O-O", 6.0, 60, dipole=True, all_images=True)
    images.add_frames(pos, cells)
    for name in ("g", "c_L", "c_T", "n"):
        np.testing.assert_array_equal(images.result()[name].values, usual.result()[name].values)


def test_eqt_rdf_all_images_on_small_cells(tmp_path):
    """The command: a small triclinic cell is refused at r_max 7 Å with the remedy named, counted with
    --all-images (as the API counts it), and --anisotropy with --all-images is refused (exit 2)."""
    import ase.io
    import xarray as xr
    from ase.build import bulk
    from click.testing import CliRunner

    from eqt_cli import rdf as rdf_cli

    cells = bulk("NaCl", "rocksalt", a=5.64).repeat((2, 1, 1))
    frames = []
    for k in range(4):
        a = cells.copy()
        a.positions += np.random.default_rng(k).normal(scale=0.1, size=(4, 3))
        frames.append(a)
    ase.io.write(tmp_path / "small.xyz", frames)
    base = [str(tmp_path / "small.xyz"), "--rmax", "7", "-q"]
    refused = CliRunner().invoke(rdf_cli.main, base + ["-o", str(tmp_path / "a.nc")])
    assert refused.exit_code == 2 and "--all-images" in refused.stderr and not (tmp_path / "a.nc").exists()
    done = CliRunner().invoke(rdf_cli.main, base + ["--all-images", "-o", str(tmp_path / "b.nc")])
    assert done.exit_code == 0, done.output
    calc = rdf.RDF(_system(cells.numbers, frames[0].positions, cells.cell.array), None, 7.0, all_images=True)
    calc.add_frames(np.array([a.positions for a in frames]), np.array([a.cell.array for a in frames]))
    with xr.open_dataset(tmp_path / "b.nc") as ds:
        np.testing.assert_allclose(ds["n"].values, calc.result()["n"].values, rtol=1e-12)
    both = CliRunner().invoke(rdf_cli.main, base + ["--all-images", "--anisotropy", "-o", str(tmp_path / "c.nc")])
    assert both.exit_code == 2 and "--anisotropy" in both.stderr and not (tmp_path / "c.nc").exists()


def _kernel_sums(kernel, shape, positions, cells, idx_a, idx_b, r_cut, bandwidth, u, molecule, exclude):
    n_frames, n_values = len(positions), 3 if bandwidth else 1
    grid = (np.arange(100) + 0.5) * (r_cut - 5 * bandwidth) / 100
    out, counts, intra = np.zeros((n_frames, n_values, 100)), np.zeros((n_frames, 100)), np.zeros((n_frames, 1, 100))
    kernel(positions, cells, shape, idx_a, idx_b, idx_a is idx_b, r_cut, r_cut - 5 * bandwidth, bandwidth, grid, u,
           molecule, exclude, out, counts, intra)
    return out, counts, intra


@pytest.mark.parametrize("scale, r_cut", [(3.0, 6.0), (3.2, 5.1), (1.0, 4.59), (0.8, 3.67)])
@pytest.mark.parametrize("bandwidth", [0.0, 0.1])
@pytest.mark.parametrize("exclude", [False, True])
def test_cell_list_kernel_equals_brute_force_on_triclinic_cells(scale, r_cut, bandwidth, exclude):
    """The cell-list pair kernel against the plain double loop (the all-images kernel without
    images): same histograms, kernel sums and dipole products to 1e-12, a-a and a-b pairs, cells
    with 4-5 cell-list cells per direction and small cells with r_cut just below half the
    smallest perpendicular width (4.592 and 3.674 Å there)."""
    from eqt_analysis import cell as cellmod
    from eqt_analysis.neighbors import cell_bins

    rng = np.random.default_rng(int(10 * scale + r_cut))
    cells = np.stack([TRICLINIC * scale * (1 + 0.02 * k) for k in range(3)])
    assert np.all(cellmod.perpendicular_widths(cells).min(axis=1) > 2 * r_cut)
    n = int(0.1 * abs(np.linalg.det(cells[0])))  # atoms per Å^3 of water
    positions = rng.uniform(-0.5, 1.5, (3, n, 3)) @ cells[0]  # not wrapped
    molecule = np.arange(n) // 3
    u = rng.normal(size=(3, n, 3))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    n_cells = cell_bins(cells, r_cut)
    if scale > 2:
        assert n_cells.min() >= 4  # the cell-list path
    a, b = np.arange(0, n, 3), np.setdiff1d(np.arange(n), np.arange(0, n, 3))
    for idx_a, idx_b in ((a, a), (a, b), (b, b)):
        fast = _kernel_sums(rdf._pair_sums, n_cells, positions, cells, idx_a, idx_b, r_cut, bandwidth, u,
                            molecule, exclude)
        slow = _kernel_sums(rdf._pair_sums_all_images, np.zeros((3, 3), np.int64), positions, cells, idx_a, idx_b,
                            r_cut, bandwidth, u, molecule, exclude)
        assert fast[1].sum() > 100
        for x, y in zip(fast, slow):
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-12 * max(1.0, np.abs(y).max()))


def test_results_do_not_depend_on_the_number_of_threads():
    import numba

    frames, cells, numbers = _water_box(n_frames=6)
    system = _system(numbers, frames[0], cells[0])
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        before = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            for kw in ({}, {"bandwidth": 0.1, "dipole": True}):
                calc = rdf.RDF(system, "O-O,O-H", 4.0, 40, **kw)
                calc.add_frames(frames, cells)
                results.append(calc.result())
        finally:
            numba.set_num_threads(before)
    for one, many in zip(results[:2], results[2:]):
        for key in one.data_vars:
            np.testing.assert_array_equal(one[key].values, many[key].values)
