"""Formats read through MDAnalysis arrive in eqt units with the right cell and species."""
import ase.units
import numpy as np
import pytest

from eqt_analysis import io, trajectory, units

datafiles = pytest.importorskip("MDAnalysisTests.datafiles")
PAIRS = {
    "DCD+PSF triclinic": ("DCD_TRICLINIC", "PSF_TRICLINIC"),
    "AMBER NCDF+prmtop": ("TRJ_NCBOX", "PRM_NCBOX"),
    "TRR+GRO with forces": ("TRR", "GRO"),
    "LAMMPS dump triclinic": ("LAMMPSDUMP_triclinic", None),
}


@pytest.mark.parametrize("name", list(PAIRS))
def test_same_frames_as_mdanalysis(name):
    import MDAnalysis as mda

    traj_name, top_name = PAIRS[name]
    traj_file = getattr(datafiles, traj_name)
    top_file = getattr(datafiles, top_name) if top_name else None
    fmt = "LAMMPSDUMP" if "LAMMPS" in name else None
    ds = trajectory.concat(io.iter_trajectory(traj_file, topology=top_file, chunk_frames=3, format=fmt))
    u = mda.Universe(*[f for f in (top_file, traj_file) if f], **({"format": fmt} if fmt else {}))
    assert ds.sizes["frame"] == len(u.trajectory)
    for i, ts in enumerate(u.trajectory):
        np.testing.assert_allclose(ds["positions"].values[i], ts.positions, rtol=1e-6)
        np.testing.assert_allclose(ds["cell"].values[i], ts.triclinic_dimensions, rtol=1e-6, atol=1e-5)
        if ts.has_forces:
            np.testing.assert_allclose(ds["forces"].values[i], ts.forces * units.KJ_MOL, rtol=1e-6)
        if ts.has_velocities:
            np.testing.assert_allclose(ds["velocities"].values[i], ts.velocities, rtol=1e-6)


def test_elements_from_topology_or_names():
    import MDAnalysis as mda

    ds = io.open_trajectory(datafiles.DCD_TRICLINIC, topology=datafiles.PSF_TRICLINIC)
    assert sorted(set(trajectory.symbols(ds))) == ["H", "O"] and trajectory.symbols(ds).count("O") == 125
    ds = io.open_trajectory(datafiles.TRR, topology=datafiles.GRO)
    names = mda.Universe(datafiles.GRO).atoms.names
    np.testing.assert_array_equal(ds["atomic_number"].values == 0, names == "MW")  # TIP4P dummies


def test_unit_constants_agree_with_ase():
    assert units.KJ_MOL == pytest.approx(ase.units.kJ / ase.units.mol, rel=1e-6)
    assert units.KCAL_MOL == pytest.approx(ase.units.kcal / ase.units.mol, rel=1e-6)
    assert units.BOHR == pytest.approx(ase.units.Bohr, rel=1e-8)
    assert units.HARTREE == pytest.approx(ase.units.Hartree, rel=1e-7)
    assert units.AU_TIME == pytest.approx(ase.units._aut * 1e12, rel=1e-9)


def test_quantities_in_units_the_reader_does_not_know_are_not_converted():
    """A LAMMPS dump's velocities and forces are the file's numbers in its unit style (MDAnalysis converts
    nothing): they were scaled as kJ/(mol Å) and labelled eV/Å. Now left out, with a warning each."""
    with pytest.warns(trajectory.EqtWarning) as warned:
        ds = trajectory.concat(io.iter_trajectory(datafiles.LAMMPSDUMP_image_vf, format="LAMMPSDUMP"))
    assert "forces" not in ds and "velocities" not in ds and ds.sizes["frame"] == 3
    messages = " ".join(str(w.message) for w in warned)
    assert "velocities and forces not carried over" in messages and "does not know the time unit" in messages


def test_frames_must_carry_what_the_first_carries(tmp_path):
    """A TRR whose second frame has no forces gave a traceback (or, chunk by chunk, an error naming a
    temporary file); an XTC frame without a box dropped the box of its whole chunk."""
    from MDAnalysis.lib.formats.libmdaxdr import TRRFile

    box = np.eye(3, dtype=np.float32) * 3.0
    x = np.random.default_rng(0).random((3, 3)).astype(np.float32)
    with TRRFile(str(tmp_path / "m.trr"), "w") as trr:
        trr.write(x, x, x, box, 0, 0.0, 0.0, 3)
        trr.write(x, x, None, box, 1, 1.0, 0.0, 3)
    (tmp_path / "m.gro").write_text("m\n    3\n    1SOL     OW    1   0.100   0.100   0.100\n"
                                    "    1SOL    HW1    2   0.200   0.100   0.100\n"
                                    "    1SOL    HW2    3   0.100   0.200   0.100\n   3.00000   3.00000   3.00000\n")
    for chunk in (1, 256):
        with pytest.raises(io.InputError, match="frame 1 lacks forces unlike the first frame"):
            trajectory.concat(io.iter_trajectory(tmp_path / "m.trr", topology=tmp_path / "m.gro", chunk_frames=chunk))
