#!/usr/bin/env bash
# Trains example_data/model-small.pkl, the small eqt model (the example model, model.pkl, until the medium
# model of train_medium.sh replaced it on 2026-12-04; it made the example runs of example_data/md), on the 190 revPBE0-D3 bulk-water structures of
# ../shared/data/water_test.xyz (Cheng et al., PNAS 116, 1110 (2019); the test split of Langer et al. 2024):
# seeded split (seed 0) = 153 train, 17 validation, 20 held-out test structures, energy weight 0.01
# (relative, PET-style normalized loss),
# a fresh random rotation of every structure at every step. CPU: about 40 s per epoch on 2 cores (110 epochs: about 75 min).
set -euo pipefail
cd "$(dirname "$0")/.."
eqt-train ../shared/data/water_test.xyz --preset small --cutoff 4.0 --epochs 110 --batch-size 2 \
    --learning-rate 3e-3 --energy-weight 0.01 --n-test 20 --val-fraction 0.1 --seed 0 \
    -o example_data/model-small.pkl "$@"
