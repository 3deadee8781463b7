#!/usr/bin/env bash
# The example model (issue 15: held-out force MAE <= 80 meV/Å; 51.9 reached): the small model underfits
# (stage 2: force MAE 97.7 meV/Å on its training structures, 101.2 held out), so this trains the 'medium'
# preset (d_model 64, 3 message layers, ~5x the small one's parameters) from scratch on the same data and
# split (seed 0: 153 train, 17 validation, 20 held-out test), warm-up + cosine (peak 2e-3) over 200 epochs,
# writing example_data/model.pkl (the example model) and its resumable checkpoint example_data/model.pkl.ckpt
# after every epoch. It spans several working sessions: continue it with
#     bash example_data/train_medium.sh --resume example_data/model.pkl.ckpt
# (Epochs 1-126 ran with --epochs 300; at epoch 126, held out 66.7 meV/Å already, the total was cut to 200:
# the cosine's learning rate then stepped from 1.27e-3 to 0.63e-3, and the run ends two sessions sooner.
# Until it finished, on 2026-12-04, it wrote example_data/model-medium.pkl; then it replaced the small model.)
set -euo pipefail
cd "$(dirname "$0")/.."
eqt-train ../shared/data/water_test.xyz --preset medium --cutoff 4.0 --epochs 200 --batch-size 2 \
    --learning-rate 2e-3 --energy-weight 0.01 --n-test 20 --val-fraction 0.1 --seed 0 \
    -o example_data/model.pkl "$@"
