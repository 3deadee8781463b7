#!/usr/bin/env bash
# The example MD runs of example_data/md/, made with eqt-md and the small model (example_data/model-small.pkl, the
# example model until 2026-12-04):
#   molecule_{plain,2i}.nc        one water molecule in vacuum, NVE, 0.5 fs, 10 ps, float64, plain and
#                                 averaged on grid 2i, plain and 2i energies recorded on every frame
#   bulk_{plain,mts2i,random}.nc  the 64-water box, NVT 300 K (SVR, tau 100 fs), 0.5 fs, 10 ps: plain,
#                                 multiple time stepping (2i average every 10th step), random rotation every step
# Each run writes NAME.nc and its checkpoint NAME.nc.ckpt; running this script again continues unfinished runs
# (--restart) and skips finished ones. Usage: bash example_data/run_md.sh [RUN ...] (default: all, in order).
set -euo pipefail
cd "$(dirname "$0")/.."
out=example_data/md
model=example_data/model-small.pkl
box=example_data/water64_tip3p.nc
mol=$out/water_molecule.xyz
[ -e "$mol" ] || python - "$box" "$mol" <<'PY'
import sys
import ase.io
from ase import Atoms
from eqt_analysis import io
ds = io.open_trajectory(sys.argv[1]).isel(frame=0).load()  # molecule 0 of the TIP3P box, in vacuum
x = ds["positions"].values[:3].astype(float)
ase.io.write(sys.argv[2], Atoms(numbers=ds["atomic_number"].values[:3], positions=x - x.mean(0)))
PY

run() {  # name, then eqt-md arguments
    local name=$1; shift
    local restart=()
    [ -e "$out/$name.nc" ] && restart=(--restart)
    /usr/bin/time -f "$name: %e s wall, %U s user CPU" eqt-md "$@" -o "$out/$name.nc" "${restart[@]}"
}
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(molecule_plain molecule_2i bulk_plain bulk_random bulk_mts2i)
for name in "${runs[@]}"; do
    case $name in
    molecule_plain) run "$name" "$model" "$mol" --time 10 --timestep 0.5 --stride 10 --velocities thermal \
        --temperature 300 --seed 1 --float64 --record 2i ;;
    molecule_2i) run "$name" "$model" "$mol" --time 10 --timestep 0.5 --stride 10 --velocities thermal \
        --temperature 300 --seed 1 --float64 --record 2i --average 2i ;;
    bulk_plain) run "$name" "$model" "$box" --time 10 --timestep 0.5 --stride 100 --thermostat svr --tau 100 ;;
    bulk_random) run "$name" "$model" "$box" --time 10 --timestep 0.5 --stride 100 --thermostat svr --tau 100 \
        --random-rotation ;;
    bulk_mts2i) run "$name" "$model" "$box" --time 10 --timestep 0.5 --stride 100 --thermostat svr --tau 100 \
        --average 2i --mts 10 ;;
    *) echo "unknown run $name" >&2; exit 2 ;;
    esac
done
