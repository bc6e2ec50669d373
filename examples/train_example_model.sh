#!/usr/bin/env bash
# Train the example pair model on procedural scenes that recon3r renders itself (exact depth,
# intrinsics and poses). Two recipes of the same model (5.2 M parameters, 224 px, linear head):
#
#   PROFILE=gpu  the shipped weights (src/recon3r/assets/example_model): 800 scenes, 5 epochs of
#                500 steps at batch 32 (80k pairs). 4.4 min of training on one H100 (plus ~2 min
#                of rendering on 14 cores); about 3 h on a 2-core CPU.
#   PROFILE=cpu  the laptop recipe: 300 scenes, 16 epochs of 250 steps at batch 8 (32k pairs),
#                about 75 min on an idle 2-core CPU (1.0 s/step); a weaker model, same code path.
#
# Log and held-out metrics of the shipped run: examples/example_model_training.md.
# Extra arguments go to `recon3r train` (e.g. --device cpu). Re-running resumes from checkpoint-last.
set -euo pipefail
PROFILE=${PROFILE:-gpu}
OUT=${OUT:-runs}
RECON3R=${RECON3R:-recon3r}
case $PROFILE in
  gpu) SCENES=800 EPOCH_PAIRS=16000 EPOCHS=5 BATCH=32 LR=5e-4 WORKERS=${WORKERS:-14} ;;
  cpu) SCENES=300 EPOCH_PAIRS=2000 EPOCHS=16 BATCH=8 LR=4e-4 WORKERS=${WORKERS:-2} EVAL_FREQ=4 ;;
  *) echo "PROFILE must be gpu or cpu, got '$PROFILE'" >&2; exit 2 ;;
esac
EVAL_FREQ=${EVAL_FREQ:-1}
DATA=$OUT/data_$PROFILE

[ -f "$DATA/train/dataset.json" ] || $RECON3R data make-procedural --out "$DATA/train" --scenes $SCENES --views 8 --size 224 --seed 0 --workers "$WORKERS"
[ -f "$DATA/test/dataset.json" ] || $RECON3R data make-procedural --out "$DATA/test" --scenes 24 --views 8 --size 224 --seed 0 --split test --workers "$WORKERS"

$RECON3R train \
  --model "AsymmetricCroCo3DStereo(pos_embed='RoPE100', patch_embed_cls='PatchEmbedDust3R', img_size=(224, 224), head_type='linear', output_mode='pts3d', depth_mode=('exp', -inf, inf), conf_mode=('exp', 1, inf), landscape_only=False, enc_embed_dim=192, enc_depth=6, enc_num_heads=3, dec_embed_dim=128, dec_depth=4, dec_num_heads=4)" \
  --train_dataset "$EPOCH_PAIRS @ Procedural(ROOT='$DATA/train', resolution=[(224, 224), (224, 160), (160, 224)], aug_crop=16, transform=ColorJitter)" \
  --test_dataset "200 @ Procedural(ROOT='$DATA/test', resolution=(224, 224))" \
  --train_criterion "ConfLoss(Regr3D(L21, norm_mode='avg_dis'), alpha=0.2)" \
  --test_criterion "Regr3D_ScaleShiftInv(L21, gt_scale=True)" \
  --lr $LR --min_lr 1e-6 --warmup_epochs 1 --epochs $EPOCHS --batch_size $BATCH --seed 0 \
  --eval_freq "$EVAL_FREQ" --save_freq 1 --log_freq 25 --num_workers "$WORKERS" \
  --output_dir "$OUT/example_model_$PROFILE" "$@"
