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
