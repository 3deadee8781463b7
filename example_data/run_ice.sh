#!/usr/bin/env bash
# The study's ice check with the small model (example_data/model-small.pkl, which made the runs of example_data/md): the 11 proton-disordered ice cells of
# ../shared/data/hayw-reim97jcp-cells.xyz (96 to 768 waters) relaxed (BFGS, fmax 0.01 eV/Å, float64) with the
# plain model and then, from its minimum, with the model averaged on grid 2i. The result (energies per
# molecule before and after, RMS position difference) goes to example_data/md/ice.opt.nc (beside the MD runs: eqt-study --runs example_data/md --ice CELLS uses it); every finished
# relaxation (and, every minute, the positions of the current one) is kept in example_data/md/ice.opt.nc.ckpt,
# so running this again continues a stopped run.
# The relaxed structures (derived from the shared cells) go to the temporary folder, not into the repository.
# Usage: bash example_data/run_ice.sh   (cells 0-9, 288-1296 atoms: ~1.5 h on this project's 2-core machine; cell 10
# has 2304 atoms, where ASE's BFGS diagonalizes a 6912 x 6912 Hessian at every step: ~36 s per step on 2 cores, some
# hours in all.)
set -euo pipefail
cd "$(dirname "$0")/.."
cells=../shared/data/hayw-reim97jcp-cells.xyz
[ -e "$cells" ] || { echo "needs $cells (the study's shared data)" >&2; exit 2; }
/usr/bin/time -f "ice: %e s wall, %U s user CPU" eqt-opt example_data/model-small.pkl "$cells" --compare 2i \
    -o example_data/md/ice.opt.nc --structures-out "${TMPDIR:-/tmp}/ice.relaxed.xyz"
