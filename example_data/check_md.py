"""Is MD with the example model stable? ASE Langevin dynamics of the 64-water box at 300 K.

Starts from frame 0 of example_data/water64_tip3p.nc with Maxwell-Boltzmann velocities
(seeded), runs Langevin dynamics (0.5 fs, friction 0.01/fs) with EQTCalculator on
example_data/model.pkl, writes the run to an eqt .nc file, and prints the temperature, the
O-H bond range and the O-O first RDF peak; exit code 1 if a molecule falls apart (an O-H
bond longer than 1.4 Å) or the temperature leaves 200-450 K.

Run: python example_data/check_md.py [--ps 1.0] [-o /tmp/md.nc]
"""
import argparse
import sys

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ps", type=float, default=1.0)
    parser.add_argument("--model", default="example_data/model.pkl")
    parser.add_argument("-o", "--output", default="md_check.nc")
    args = parser.parse_args()
    from ase import Atoms, units
    from ase.md.langevin import Langevin
    from ase.constraints import FixCom
    from ase.md.velocitydistribution import thermalize_momenta

    from eqt_analysis import io, molecules, rdf, trajectory
    from eqt_analysis.io.netcdf import NetCDFWriter
    from eqt_model.calculator import EQTCalculator

    ds = io.open_trajectory("example_data/water64_tip3p.nc").isel(frame=0).load()
    atoms = Atoms(numbers=ds["atomic_number"].values, positions=ds["positions"].values.astype(float),
                  cell=ds["cell"].values, pbc=True)
    atoms.calc = EQTCalculator(args.model)
    atoms.set_constraint(FixCom())
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(7))
    dyn = Langevin(atoms, 0.5 * units.fs, temperature_K=300, friction=0.01 / units.fs, fixcm=False,
                   rng=np.random.default_rng(8))
    waters = molecules.find_waters(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
    frames, temps, worst = [], [], 0.0
    with NetCDFWriter(args.output) as writer:
        def record():
            nonlocal worst
            pos, cell = atoms.positions, atoms.cell.array
            d = pos[waters[:, 1:]] - pos[waters[:, :1]]
            d -= np.round(d @ np.linalg.inv(cell)) @ cell
            worst = max(worst, float(np.linalg.norm(d, axis=-1).max()))
            temps.append(atoms.get_temperature())
            frames.append(pos.copy())
            writer.write(trajectory.build(pos[None], atoms.numbers, cell=cell[None], time=[dyn.get_time() / units.fs * 1e-3],
                                          velocities=atoms.get_velocities()[None] * units.fs * 1e3,
                                          forces=atoms.get_forces()[None],
                                          frame_data={"potential_energy": ([atoms.get_potential_energy()], "electronvolt"),
                                                      "temperature": ([temps[-1]], "kelvin")}))
        dyn.attach(record, interval=20)
        dyn.run(int(round(args.ps * 1000 / 0.5)))
    from eqt_analysis.system import System

    calc = rdf.RDF(System(atoms.numbers, frames[0], atoms.cell.array, atoms.pbc), "O-O", 6.0, 120)
    calc.add_frames(np.array(frames[len(frames) // 2:]), np.repeat(atoms.cell.array[None], len(frames) - len(frames) // 2, 0))
    res = calc.result()
    g = res["g"].sel(pair="O-O").values
    peak = float(res["r"].values[np.argmax(g)])
    t = np.array(temps[len(temps) // 2:])
    print(f"{args.ps} ps Langevin at 300 K: T = {t.mean():.0f} +- {t.std():.0f} K (second half), longest O-H "
          f"{worst:.3f} Å, O-O first peak {peak:.2f} Å (g = {g.max():.2f})")
    stable = worst < 1.4 and 200 < t.mean() < 450
    print("stable" if stable else "NOT stable")
    sys.exit(0 if stable else 1)


if __name__ == "__main__":
    main()
