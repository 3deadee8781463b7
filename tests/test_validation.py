"""Numbers that make no sense are refused with one line naming the file: NaN/inf, coordinates
far outside the cell, cut files, empty frame selections, analyses undefined on the input,
requests for more memory than the machine has."""
import warnings

import numpy as np
import pytest
import xarray as xr

from eqt_analysis import (conservation, diffusion, io, orient, rdf, resources,
                          timeseries, trajectory)
from eqt_analysis.diffusion import MSD
from eqt_analysis.rotcorr import RotationalCorrelation
from eqt_analysis.spectra import TCF
from eqt_analysis.system import System
from eqt_analysis.vibrations import VDOS
from eqt_analysis.errors import InputError
from eqt_analysis.io import ipi, netcdf

from .conftest import water_molecules, wrap

CELL = np.eye(3) * 9.0


def _water(n_frames=12, seed=0):
    """Arrays of 8 waters in a cubic cell: positions, numbers, velocities, forces, time, energy."""
    rng = np.random.default_rng(seed)
    pos, numbers = water_molecules(8, CELL, rng)
    positions = np.stack([wrap(pos + 0.01 * k, CELL) for k in range(n_frames)])
    return dict(positions=positions, atomic_numbers=numbers, cell=np.tile(CELL, (n_frames, 1, 1)),
                velocities=rng.normal(size=positions.shape), forces=rng.normal(size=positions.shape),
                time=0.5 * np.arange(n_frames),
                frame_data={"potential_energy": (rng.normal(size=n_frames), "electronvolt")})


def _unchecked(arrays):
    """An eqt Dataset of good arrays, then corrupted in place by the caller (writers do not check)."""
    a = dict(arrays)
    return trajectory.build(a.pop("positions"), a.pop("atomic_numbers"), **a)


def _write(ds, path):
    with io.open_writer(str(path), io.writer_format(str(path)), float64=True) as writer:
        writer.write(ds)
    return str(path)


def _refused(path, match, **selection):
    """Both the streaming and the whole-trajectory readers refuse `path` with `match`."""
    with pytest.raises(InputError, match=match) as streamed:
        list(io.iter_trajectory(path, **selection))
    with pytest.raises(InputError, match=match) as whole:
        io.open_trajectory(path, **selection).load()
    for err in (streamed, whole):
        assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


# ----------------------------------------------------------------------- numbers in arrays
@pytest.mark.parametrize("name", ["positions", "velocities", "forces"])
def test_build_refuses_nan_in_per_atom_arrays(name):
    arrays = _water()
    arrays[name][3, 5, 1] = np.nan
    a = dict(arrays)
    with pytest.raises(InputError, match=rf"^run\.xyz: NaN or inf in {name} at frame 3, atom 5$"):
        trajectory.build(a.pop("positions"), a.pop("atomic_numbers"), source="run.xyz", **a)


def test_build_refuses_inf_energy_time_and_cell():
    for key, index, match in (("frame_data", None, "potential_energy at frame 2"), ("time", 4, "time at frame 4"),
                              ("cell", (1, 2, 2), "cell at frame 1")):
        arrays = _water()
        if key == "frame_data":
            arrays[key]["potential_energy"][0][2] = np.inf
        else:
            arrays[key][index] = np.inf
        a = dict(arrays)
        with pytest.raises(InputError, match=match):
            trajectory.build(a.pop("positions"), a.pop("atomic_numbers"), source="run.xyz", **a)


@pytest.mark.parametrize("value", [1e12, 2e20])
def test_coordinates_far_outside_the_cell_are_refused(value):
    arrays = _water()
    arrays["positions"][1, 7, 0] = value
    a = dict(arrays)
    with pytest.raises(InputError, match=r"positions at frame 1, atom 7 lie .* cell lengths from the cell"):
        trajectory.build(a.pop("positions"), a.pop("atomic_numbers"), **a)


def test_bounds_open_system_cell_and_velocities():
    arrays = _water()
    unwrapped = arrays["positions"].copy()
    unwrapped[:, 0] += 900 * 9.0  # an atom that diffused 900 cells away is fine
    trajectory.build(unwrapped, arrays["atomic_numbers"], cell=arrays["cell"])
    far = arrays["positions"].copy()
    far[2, 4, 2] = -1e12
    with pytest.raises(InputError, match=r"frame 2, atom 4: coordinate -1e\+12 Å exceeds 1e\+06 Å"):
        trajectory.build(far, arrays["atomic_numbers"])  # open system
    huge = arrays["cell"].copy()
    huge[0, 0, 0] = 2e20
    with pytest.raises(InputError, match="cell vector of 2e\\+20 Å at frame 0"):
        trajectory.build(arrays["positions"], arrays["atomic_numbers"], cell=huge)
    fast = arrays["velocities"].copy()
    fast[5, 3] = [3e6, 0, 0]
    with pytest.raises(InputError, match="velocities at frame 5, atom 3 exceed the speed of light"):
        trajectory.build(arrays["positions"], arrays["atomic_numbers"], cell=arrays["cell"], velocities=fast)


def test_atoms_elements_and_masses_are_checked(tmp_path):
    arrays = _water()
    for number in (119, -1):
        ds = _unchecked(arrays)
        ds["atomic_number"].values[4] = number
        _refused(_write(ds, tmp_path / f"z{number}.nc"), rf"atomic number {number} of atom 4 is no element")
    with pytest.raises(InputError, match="frames without atoms"):
        trajectory.build(np.zeros((3, 0, 3)), [])
    with pytest.raises(InputError, match="mass -1 of atom 2"):
        trajectory.build(arrays["positions"], arrays["atomic_numbers"], masses=np.r_[1.0, 1.0, -1.0, np.ones(21)])
    trajectory.build(arrays["positions"], arrays["atomic_numbers"], masses=np.r_[0.0, np.ones(23)])  # a massless site


def test_text_and_topology_mistakes_are_refused(tmp_path):
    from MDAnalysisTests.datafiles import PSF

    path = _write(_unchecked(_water(3)), tmp_path / "t.xyz")
    utf16 = tmp_path / "u.xyz"
    utf16.write_bytes(open(path).read().encode("utf-16-le"))
    _refused(str(utf16), "not a plain text file")
    with pytest.raises(InputError, match=r"adk\.psf: a topology is read only with MDAnalysis formats"):
        io.open_trajectory(path, topology=PSF)
    import netCDF4

    amber = str(tmp_path / "amber.nc")
    with netCDF4.Dataset(amber, "w", format="NETCDF3_64BIT_OFFSET") as nc:
        nc.Conventions = "AMBER"
        for name, size in (("frame", None), ("atom", 3), ("spatial", 3)):
            nc.createDimension(name, size)
        nc.createVariable("coordinates", "f4", ("frame", "atom", "spatial"))[:2] = np.ones((2, 3, 3))
    _refused(amber, "without eqt's atomic_number variable: its elements are unknown; pass --topology")


@pytest.mark.parametrize("suffix", [".nc", ".xyz"])
@pytest.mark.parametrize("case", ["nan velocities", "inf energy", "2e20 position", "1e12 position"])
def test_files_with_bad_numbers_are_refused(tmp_path, suffix, case):
    ds = _unchecked(_water())
    if case == "nan velocities":
        ds["velocities"].values[7, 9, 0] = np.nan
        match = "NaN or inf in velocities at frame 7, atom 9"
    elif case == "inf energy":
        ds["potential_energy"].values[6] = np.inf
        match = "NaN or inf in potential_energy at frame 6"
    else:
        ds["positions"].values[8, 2, 1] = float(case.split()[0])
        match = "positions at frame 8, atom 2 lie"
    _refused(_write(ds, tmp_path / f"bad{suffix}"), match)


def test_lazy_netcdf_checks_each_slab_with_file_frame_numbers(tmp_path):
    ds = _unchecked(_water())
    ds["velocities"].values[7, 9, 0] = np.nan
    path = _write(ds, tmp_path / "bad.nc")
    lazy = io.open_trajectory(path)  # positions, cell, time are fine
    assert np.isfinite(lazy["velocities"].isel(atom=[0, 1, 2]).values).all()
    assert np.isfinite(lazy["velocities"].isel(frame=slice(0, 7)).values).all()
    with pytest.raises(InputError, match=r"bad\.nc: NaN or inf in velocities at frame 7, atom 9$"):
        lazy.isel(frame=slice(5, None))["velocities"].isel(atom=[12, 9]).values
    with pytest.raises(InputError, match="frame 7, atom 9"):
        lazy["velocities"].isel(frame=7, atom=9).values
    picked = io.open_trajectory(path, start=8)
    assert picked.sizes["frame"] == 4 and np.isfinite(picked["velocities"].values).all()


def test_ipi_property_file_with_nan_is_refused(tmp_path):
    path = tmp_path / "sim.out"
    path.write_text("# column   1     --> step : The current step\n"
                    "# column   2     --> potential{electronvolt} : The potential energy\n"
                    "0 1.0\n10 nan\n")
    with pytest.raises(InputError, match=r"sim\.out: NaN or inf in column 2 \(potential\{electronvolt\}\) at data row 2"):
        ipi.read_properties(path)


# ------------------------------------------------------------------------------ cut files
def test_truncated_netcdf_is_refused_wherever_it_is_cut(tmp_path):
    path = _write(_unchecked(_water(20)), tmp_path / "full.nc")
    data = open(path, "rb").read()
    numrecs, _, variables = netcdf._classic_header(data)
    data_start = min(begin for _, _, _, begin in variables)
    cut = str(tmp_path / "cut.nc")
    for size in (0, 2, 4, 30, data_start // 2, data_start + 3, (data_start + len(data)) // 2, len(data) - 8):
        with open(cut, "wb") as handle:
            handle.write(data[:size])
        _refused(cut, "truncated|not a NetCDF file")
    with open(cut, "wb") as handle:  # a cut inside the frames says how many are whole
        handle.write(data[:len(data) - 8])
    _refused(cut, rf"truncated NetCDF file: 19 of the {numrecs} frames its header declares are complete")


def test_streaming_netcdf_reads_the_frames_that_fit(tmp_path):
    ds = _unchecked(_water(20))
    data = bytearray(open(_write(ds, tmp_path / "full.nc"), "rb").read())
    data[4:8] = b"\xff\xff\xff\xff"  # numrecs = STREAMING
    recsize = (len(data) - min(b for _, _, _, b in netcdf._classic_header(bytes(data))[2])) // 20
    path = tmp_path / "streaming.nc"
    path.write_bytes(bytes(data[:len(data) - 6 * recsize - 5]))
    got = io.open_trajectory(str(path)).load()
    assert got.sizes["frame"] == 13
    np.testing.assert_array_equal(got["positions"].values, ds["positions"].values[:13])


def _ipi_text(n_frames=4):
    rng = np.random.default_rng(0)
    frames = []
    for k in range(n_frames):
        lines = ["3", f"# CELL(abcABC):   9.0  9.0  9.0  90.0  90.0  90.0  Step: {10 * k:11d}  Bead: 0 "
                      "positions{angstrom}  cell{angstrom}"]
        lines += [f"{s:>8} {x:12.5e} {y:12.5e} {z:12.5e}" for s, (x, y, z) in zip("OHH", 4 + rng.random((3, 3)))]
        frames.append("\n".join(lines) + "\n")
    return "".join(frames)


@pytest.mark.parametrize("kind", ["extxyz", "ipi"])
def test_truncated_xyz_is_refused(tmp_path, kind):
    if kind == "extxyz":
        text = open(_write(_unchecked(_water(4)), tmp_path / "full.xyz")).read()
    else:
        text = _ipi_text()
    lines = text.splitlines(keepends=True)
    per_frame = len(lines) // 4
    line_start = np.cumsum([0] + [len(x) for x in lines])
    cuts = [line_start[per_frame + 1] + 7,  # inside the comment line of frame 1
            line_start[per_frame + 4],  # at a line boundary inside frame 1
            line_start[2 * per_frame + 3] + 20,  # inside an atom line of frame 2
            len(text) - 1, len(text) - 3]  # inside the last number
    path = tmp_path / "cut.xyz"
    for size in cuts:
        path.write_text(text[:size])
        _refused(str(path), "truncated")
    path.write_text(text[:line_start[2 * per_frame]])  # a cut between frames is a shorter file
    assert io.open_trajectory(str(path)).sizes["frame"] == 2


# ------------------------------------------------------------------------ empty selections
def test_start_past_the_end_is_refused_by_every_reader(tmp_path):
    from MDAnalysisTests.datafiles import DCD, PSF

    nc = _write(_unchecked(_water(12)), tmp_path / "t.nc")
    xyz = _write(_unchecked(_water(12)), tmp_path / "t.xyz")
    (tmp_path / "i.xyz").write_text(_ipi_text())
    for path, n in ((nc, 12), (xyz, 12), (str(tmp_path / "i.xyz"), 4)):
        _refused(path, rf"no frames selected \(start 50, stride 1\); the file has {n} frames", start=50)
    _refused(nc, "no frames selected", start=5, stop=3)
    with pytest.raises(InputError, match=r"no frames selected \(start 500, stride 1\); the file has 98 frames"):
        list(io.iter_trajectory(DCD, topology=PSF, start=500))


# ----------------------------------------------------------------- undefined estimates
def test_one_frame_orientation_verdict_is_refused():
    a = _water(1)
    calc = orient.Orientation(System(a["atomic_numbers"], a["positions"][0], CELL, [True] * 3, source="one.nc"))
    calc.add(a["positions"][0], CELL)
    with pytest.raises(InputError, match=r"^one\.nc: 1 frame\(s\) make 1 complete block\(s\).*needs at least 2"):
        calc.result()
    calc.add(a["positions"][0] + 0.1, CELL)
    res = calc.result()
    assert np.isfinite(res["chi2"]) or res["chi2"] == np.inf
    assert np.isfinite(res["p_value"])


def test_one_frame_rdf_has_g_and_warns_about_errors():
    a = _water(1)
    calc = rdf.RDF(System(a["atomic_numbers"], a["positions"][0], CELL, [True] * 3, source="one.nc"), "O-O", 4.0, 40)
    calc.add(a["positions"][0], CELL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = calc.result()
    assert np.isfinite(res["g"].values).all()
    assert any("one.nc: 1 frame(s) give no block errors" in str(w.message) for w in caught)


def test_too_short_series_are_refused_naming_the_file(tmp_path):
    short = _unchecked(_water(9))
    path = _write(short, tmp_path / "short.nc")
    ds = io.open_trajectory(path)
    system = System.from_dataset(ds)
    with pytest.raises(InputError, match=r"short\.nc: 9 frames cannot make 5 blocks of at least 2 frames"):
        MSD(system, "O", n_blocks=5).compute(ds)
    with pytest.raises(InputError, match=r"short\.nc: fewer than 2 frames in the fit window"):
        MSD(system, "O", n_blocks=4, fit_start=0.1, fit_stop=0.4).compute(ds)  # frames every 0.5 ps
    with pytest.raises(InputError, match=r"short\.nc: bad fit window nan"):
        MSD(system, fit_start=np.nan, fit_stop=0.5)
    with pytest.raises(InputError, match=r"short\.nc: 9 frames cannot make 5 blocks"):
        VDOS(system).compute(ds)
    with pytest.raises(InputError, match=r"short\.nc: 9 frames cannot make 5 blocks"):
        TCF("potential_energy", source=path).compute(ds)
    with pytest.raises(InputError, match=r"short\.nc: 9 frames cannot make 5 blocks"):
        RotationalCorrelation(system).compute(ds)
    with pytest.raises(InputError, match=r"short\.nc: 2 frame\(s\): a drift and its error need at least 3"):
        conservation.energy_drift([0.0, 0.5], [1.0, 1.1], 8, source=path)
    with pytest.raises(InputError, match=r"short\.nc: 1 frame\(s\): a time correlation needs at least 2"):
        timeseries.time_step([0.0], path)


def test_nonsense_parameters_are_refused():
    x = np.random.default_rng(0).normal(size=40)
    for fwhm in (-5.0, 0.0, np.nan, np.inf):
        with pytest.raises(InputError, match="fwhm"):
            VDOS(System(np.full(3, 18), np.zeros((3, 3)), source="t.nc"), fwhm=fwhm)
        with pytest.raises(InputError, match="fwhm"):
            TCF("x", fwhm=fwhm)
    with pytest.raises(InputError, match="time step"):
        TCF("x", dt=np.nan)
    with pytest.raises(InputError, match="NaN or inf in x at frame 3"):
        TCF("x", dt=0.5).compute(xr.Dataset({"x": ("frame", np.r_[x[:3], np.nan, x[4:]])}))
    water = _water(1)
    system = System(water["atomic_numbers"], water["positions"][0], CELL, [True] * 3, source="t.nc")
    for r_max in (np.nan, np.inf, 1e-300, -1.0):
        with pytest.raises(InputError, match="^t.nc: r_max"):
            rdf.RDF(system, "O-O", r_max, 40)
    for h in (np.nan, 0.0, -0.1, 7.0):
        with pytest.raises(InputError, match="bandwidth"):
            rdf.RDF(system, "O-O", 6.0, 40, bandwidth=h)
    with pytest.raises(InputError, match="bandwidth"):
        orient.Orientation(system, bandwidth=np.nan)
    with pytest.raises(InputError, match="viscosity"):
        diffusion.yeh_hummer(0.1, 300.0, -1.0, CELL[None])


def test_memory_requests_beyond_the_machine_are_refused_before_reading(monkeypatch):
    monkeypatch.setattr(resources, "physical_memory", lambda: 16e9)
    water = _water(1)
    system = System(water["atomic_numbers"], water["positions"][0], CELL, [True] * 3, source="t.nc")
    with pytest.raises(InputError, match=r"^t\.nc: 100000000 bins x 3 pair\(s\) needs .* GB of memory; this "
                                         r"machine has 16 GB$"):
        rdf.RDF(system, None, 6.0, 100_000_000)
    with pytest.raises(InputError, match="of memory; this machine has 16 GB"):
        orient.Orientation(system, n_cos=100_000, n_phi=100_000)
    rdf.RDF(system, None, 6.0, 200)  # the defaults fit easily
    assert rdf.memory_needed(200, 3) < 100e6
