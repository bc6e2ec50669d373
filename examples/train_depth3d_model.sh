#!/usr/bin/env bash
# The exact recipe of the shipped depth-to-3D model (src/recon3r/assets/depth3d_model/):
# 1500 procedural views (64 px, 'train' split), 2500 AdamW steps of 32 clouds × 512 points, one CPU thread.
set -euo pipefail
OMP_NUM_THREADS=1 python -m recon3r.depth3d.train --out src/recon3r/assets/depth3d_model \
    --steps 2500 --train-views 1500 --batch-size 32 --num-points 512 --lr 1e-3 --seed 0 --threads 1
