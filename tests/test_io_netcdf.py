"""AMBER NetCDF store: exact round trips, MDAnalysis interoperability, scale factors, chunks."""
import ase.io
import netCDF4
import numpy as np
import pytest

from eqt_analysis import io, trajectory, units

COMPARED = ("positions", "cell", "velocities", "forces", "potential_energy", "time", "step",
            "atomic_number", "mass", "pbc")


def _read(path, **kwargs):
    return io.open_trajectory(str(path), **kwargs).load()


def _convert(src, dst, float64=False):
    ds = _read(src)
    with io.open_writer(str(dst), io.writer_format(str(dst)), float64=float64) as writer:
        for chunk in trajectory.iter_chunks(ds, 2):  # several chunks on purpose
            writer.write(chunk)


def test_extxyz_netcdf_extxyz_round_trip_is_exact_in_float64(tmp_path, water_frames):
    src = tmp_path / "in.xyz"
    ase.io.write(src, water_frames, format="extxyz")
    a = _read(src)
    _convert(src, tmp_path / "mid.nc", float64=True)
    b = _read(tmp_path / "mid.nc")
    for name in COMPARED:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    _convert(tmp_path / "mid.nc", tmp_path / "out.xyz")
    c = _read(tmp_path / "out.xyz")
    for name in COMPARED:
        if name == "velocities":  # momenta -> Å/ps -> momenta: one rounding each way
            np.testing.assert_allclose(a[name].values, c[name].values, rtol=1e-13)
        else:
            np.testing.assert_array_equal(a[name].values, c[name].values, err_msg=name)
    # an independent reader (ASE) sees the original numbers, velocities included
    for before, after in zip(ase.io.read(src, ":"), ase.io.read(tmp_path / "out.xyz", ":")):
        np.testing.assert_array_equal(before.positions, after.positions)
        np.testing.assert_array_equal(before.cell.array, after.cell.array)
        np.testing.assert_array_equal(before.get_forces(), after.get_forces())
        np.testing.assert_allclose(before.get_velocities(), after.get_velocities(), rtol=1e-13)
        assert before.get_potential_energy() == after.get_potential_energy()


def test_float32_store_is_within_single_precision(tmp_path, water_frames):
    src = tmp_path / "in.xyz"
    ase.io.write(src, water_frames, format="extxyz")
    _convert(src, tmp_path / "mid.nc")
    a, b = _read(src), _read(tmp_path / "mid.nc")
    for name in ("positions", "velocities", "forces"):
        scale = np.abs(a[name].values).max()
        np.testing.assert_allclose(a[name].values, b[name].values, rtol=0, atol=2 * scale * 2**-24)
        assert not np.array_equal(a[name].values, b[name].values)  # really stored as float32
    np.testing.assert_array_equal(a["cell"].values, b["cell"].values)  # cell stays float64


def test_mdanalysis_reads_eqt_netcdf(tmp_path, water_frames):
    from MDAnalysis.coordinates.TRJ import NCDFReader

    src = tmp_path / "in.xyz"
    ase.io.write(src, water_frames, format="extxyz")
    _convert(src, tmp_path / "t.nc")
    ours = _read(tmp_path / "t.nc")
    reader = NCDFReader(str(tmp_path / "t.nc"))
    assert reader.n_frames == ours.sizes["frame"]
    for i, ts in enumerate(reader):
        np.testing.assert_array_equal(ts.positions, ours["positions"].values[i].astype(np.float32))
        np.testing.assert_allclose(ts.triclinic_dimensions, ours["cell"].values[i], atol=1e-4)
        np.testing.assert_allclose(ts.velocities, ours["velocities"].values[i], rtol=1e-6)
        # MDAnalysis converts AMBER kcal/(mol Å) to kJ/(mol Å)
        np.testing.assert_allclose(ts.forces * units.KJ_MOL, ours["forces"].values[i], rtol=2e-6, atol=1e-6)
        assert ts.time == pytest.approx(ours["time"].values[i], rel=1e-6)
    reader.close()


def test_scale_factor_attributes_are_honoured(tmp_path, water_frames):
    src = tmp_path / "in.xyz"
    ase.io.write(src, water_frames, format="extxyz")
    _convert(src, tmp_path / "t.nc", float64=True)
    expected = _read(tmp_path / "t.nc")["velocities"].values
    with netCDF4.Dataset(tmp_path / "t.nc", "a") as nc:  # as AMBER writes velocities
        nc["velocities"].set_auto_scale(False)
        nc["velocities"][:] = expected / 20.455
        nc["velocities"].scale_factor = 20.455
    np.testing.assert_allclose(_read(tmp_path / "t.nc")["velocities"].values, expected, rtol=1e-14)


def test_lazy_open_and_chunked_iteration_agree(tmp_path, water_frames):
    src = tmp_path / "in.xyz"
    ase.io.write(src, water_frames, format="extxyz")
    _convert(src, tmp_path / "t.nc")
    lazy = io.open_trajectory(str(tmp_path / "t.nc"), chunk_frames=2)
    assert not lazy["positions"].variable._in_memory  # nothing read yet
    whole = lazy.load()
    parts = trajectory.concat(io.iter_trajectory(str(tmp_path / "t.nc"), chunk_frames=2))
    for name in COMPARED:
        np.testing.assert_array_equal(whole[name].values, parts[name].values)
    picked = trajectory.concat(io.iter_trajectory(str(tmp_path / "t.nc"), start=1, stop=5, stride=2))
    np.testing.assert_array_equal(picked["positions"].values, whole["positions"].values[1:5:2])


def test_extxyz_unit_hints(tmp_path):
    lines = ["2", 'Lattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3:velocities:R:3 '
                  'time=2.5 time_units=fs velocity_units=Angstrom/fs pbc="T T T"',
             "O 0 0 0 0.01 0 0", "H 1 0 0 0 -0.02 0", ""]
    (tmp_path / "h.xyz").write_text("\n".join(lines))
    ds = _read(tmp_path / "h.xyz")
    assert ds["time"].values[0] == pytest.approx(2.5e-3)
    np.testing.assert_allclose(ds["velocities"].values[0], [[10, 0, 0], [0, -20, 0]])
    # without hints: ASE time unit (10.18 fs) for info['time']
    (tmp_path / "n.xyz").write_text("\n".join(lines).replace(" time_units=fs velocity_units=Angstrom/fs", ""))
    ds = _read(tmp_path / "n.xyz")
    assert ds["time"].values[0] == pytest.approx(2.5 * 1e-3 / ase.units.fs)


def test_extxyz_info_series_with_eqt_names_carry_eqt_units(tmp_path):
    """conserved_energy in info had no units (eqt-angmom then took it as eV whatever energy_units said)."""
    lines = ["1", 'conserved_energy=-2.0 temperature=300.0 other=3.0 energy_units=kcal/mol', "O 0 0 0",
             "1", 'conserved_energy=-1.0 temperature=310.0 other=4.0 energy_units=kcal/mol', "O 0 0 0", ""]
    (tmp_path / "e.xyz").write_text("\n".join(lines))
    ds = _read(tmp_path / "e.xyz")
    np.testing.assert_allclose(ds["conserved_energy"].values, [-2.0 * ase.units.kcal / ase.units.mol,
                                                               -1.0 * ase.units.kcal / ase.units.mol], rtol=1e-6)
    assert ds["conserved_energy"].attrs["units"] == "electronvolt"
    assert ds["temperature"].attrs["units"] == "kelvin" and ds["temperature"].values.tolist() == [300.0, 310.0]
    assert ds["other"].attrs["units"] == ""


def test_cell_orientation_warning(tmp_path, water_frames):
    from scipy.spatial.transform import Rotation

    rot = Rotation.from_euler("xyz", [10, 20, 30], degrees=True).as_matrix()
    for atoms in water_frames:
        atoms.set_cell(atoms.cell.array @ rot.T, scale_atoms=True)
    ase.io.write(tmp_path / "r.xyz", water_frames, format="extxyz")
    with pytest.warns(trajectory.EqtWarning, match="standard orientation"):
        _convert(tmp_path / "r.xyz", tmp_path / "r.nc", float64=True)
    np.testing.assert_array_equal(_read(tmp_path / "r.nc")["cell"].values, _read(tmp_path / "r.xyz")["cell"].values)


@pytest.mark.parametrize("change", ["none", "mirror", "rotate_later_frame"])
def test_cell_orientation_warning_sees_every_frame_and_mirrors(tmp_path, water_frames, change):
    """The warning checked only the first frame, and a left-handed cell (c_z < 0), which cell_lengths and
    cell_angles rebuild as its mirror image, passed."""
    import warnings

    from scipy.spatial.transform import Rotation

    if change == "mirror":
        for atoms in water_frames:
            atoms.set_cell(atoms.cell.array * [1, 1, -1], scale_atoms=True)
    elif change == "rotate_later_frame":
        atoms = water_frames[-1]
        atoms.set_cell(atoms.cell.array @ Rotation.from_euler("z", 15, degrees=True).as_matrix().T, scale_atoms=True)
    ase.io.write(tmp_path / "r.xyz", water_frames, format="extxyz")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _convert(tmp_path / "r.xyz", tmp_path / "r.nc", float64=True)
    orientation = [w for w in caught if "standard orientation" in str(w.message)]
    assert len(orientation) == (0 if change == "none" else 1)
    np.testing.assert_array_equal(_read(tmp_path / "r.nc")["cell"].values, _read(tmp_path / "r.xyz")["cell"].values)


@pytest.mark.parametrize("fmt", ["NETCDF4", "NETCDF3_64BIT_DATA"])
def test_memory_mapped_reading_equals_the_netcdf_library(tmp_path, water_frames, fmt):
    """eqt's own files (NetCDF-3 64-bit offset) are read by memory-mapped strided copies; the
    same variables in formats only the NetCDF library reads (HDF5, CDF-5) give the same chunks."""
    import xarray as xr

    src = tmp_path / "in.xyz"
    ase.io.write(src, water_frames, format="extxyz")
    _convert(src, tmp_path / "t.nc")
    with netCDF4.Dataset(tmp_path / "t.nc") as a, netCDF4.Dataset(tmp_path / "other.nc", "w", format=fmt) as b:
        b.setncatts({k: a.getncattr(k) for k in a.ncattrs()})
        for name, dim in a.dimensions.items():
            b.createDimension(name, None if dim.isunlimited() else len(dim))
        for name, var in a.variables.items():
            var.set_auto_maskandscale(False)
            copy = b.createVariable(name, var.dtype, var.dimensions)
            copy.setncatts({k: var.getncattr(k) for k in var.ncattrs()})
            copy.set_auto_maskandscale(False)
            copy[:] = var[:]
    with open(tmp_path / "other.nc", "rb") as handle:  # really another format
        assert handle.read(4) != b"CDF\x02"
    for chunk_frames, start, stride in ((2, 0, 1), (3, 1, 2)):
        ours, other = (trajectory.concat(io.iter_trajectory(str(tmp_path / name), chunk_frames=chunk_frames,
                                                            start=start, stride=stride))
                       for name in ("t.nc", "other.nc"))
        xr.testing.assert_identical(ours, other)
        assert ours["positions"].dtype == np.float64 and ours["atomic_number"].dtype.isnative
