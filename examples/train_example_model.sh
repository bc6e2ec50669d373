#!/usr/bin/env bash
# Reproduce the shipped example model (src/recon3r/assets/example_model) from scratch.
# About an hour on a 2-core CPU; add --device cuda (or leave auto) on a GPU machine.
# The data is rendered by recon3r itself: exact depth, intrinsics and poses.
set -euo pipefail
OUT=${OUT:-runs}
RECON3R=${RECON3R:-recon3r}

[ -f "$OUT/data/train/dataset.json" ] || $RECON3R data make-procedural --out "$OUT/data/train" --scenes 300 --views 8 --size 224 --seed 0 --workers 2
[ -f "$OUT/data/test/dataset.json" ] || $RECON3R data make-procedural --out "$OUT/data/test" --scenes 24 --views 8 --size 224 --seed 0 --split test --workers 2

$RECON3R train \
  --model "AsymmetricCroCo3DStereo(pos_embed='RoPE100', patch_embed_cls='PatchEmbedDust3R', img_size=(224, 224), head_type='linear', output_mode='pts3d', depth_mode=('exp', -inf, inf), conf_mode=('exp', 1, inf), landscape_only=False, enc_embed_dim=192, enc_depth=6, enc_num_heads=3, dec_embed_dim=128, dec_depth=4, dec_num_heads=4)" \
  --train_dataset "2000 @ Procedural(ROOT='$OUT/data/train', resolution=(224, 160), aug_crop=16, transform=ColorJitter)" \
  --test_dataset "200 @ Procedural(ROOT='$OUT/data/test', resolution=(224, 160))" \
  --train_criterion "ConfLoss(Regr3D(L21, norm_mode='avg_dis'), alpha=0.2)" \
  --test_criterion "Regr3D_ScaleShiftInv(L21, gt_scale=True)" \
  --lr 4e-4 --min_lr 1e-6 --warmup_epochs 1 --epochs 16 --batch_size 8 --seed 0 \
  --eval_freq 4 --save_freq 1 --log_freq 25 \
  --output_dir "$OUT/example_model" "$@"
