#!/usr/bin/env bash
# Sim-to-real training of the example pair model (issue 16): continue from the shipped checkpoint,
# grown deeper (encoder 192 × 12, decoders 128 × 8: 10.0 M parameters, 20 MB in float16), on
# procedural scenes textured with real photos and developed by a simulated camera
# (`recon3r data make-procedural --textures photo --photometric`), in a curriculum of three stages
# from small to wide baselines, with aspect-ratio crops in both orientations:
#
#   stage1_narrow  forward-facing captures and indoor walk-throughs, pairs overlapping >= 50%
#   stage2_medium  + object-centric rings and object pairs, overlap >= 30%
#   stage3_wide    object rings (pairs up to 180 deg apart), pairs and walk-throughs, overlap >= 5%
#
# (No cross-view-completion pre-training stage: recon3r has no CroCo pre-training objective yet.)
#
#   PROFILE=gpu bash examples/train_simreal_model.sh     # one accelerator: ~2 min rendering, ~6 min training
#   PROFILE=cpu bash examples/train_simreal_model.sh     # the slow path on 2 CPU cores (~3 h)
#
# Runs add up: every stage writes checkpoint-last every SAVE_STEPS steps and a re-run resumes it; a
# finished stage leaves DONE and is skipped. ROUND=2 (3, ...) starts a new curriculum from the previous
# round's final model on freshly seeded scenes, so several short GPU sessions continue one model.
#
# Layout (per-stage logs): $OUT/data_seed$DATA_SEED/<kind>/{train,test}   rendered scenes
#                          $OUT/round$ROUND/grown                          the starting model
#                          $OUT/round$ROUND/stage{1_narrow,2_medium,3_wide}/metrics.csv, checkpoint-last/, DONE
#                          $OUT/round$ROUND/final                          float16 weights (<= 25 MB)
# Everything can be shrunk through the environment (the test runs SIZE=32 with a tiny model); extra
# arguments go to every `recon3r train` (e.g. --amp, --device cpu).
set -euo pipefail
PROFILE=${PROFILE:-gpu}
case $PROFILE in
  gpu) : "${SCENES:=150}" "${TEST_SCENES:=12}" "${BATCH:=32}" "${STEPS:=300 700 1000}" "${WORKERS:=14}" "${LR:=2e-4}" ;;
  cpu) : "${SCENES:=40}" "${TEST_SCENES:=4}" "${BATCH:=8}" "${STEPS:=150 300 450}" "${WORKERS:=2}" "${LR:=1e-4}" ;;
  *) echo "PROFILE must be gpu or cpu, got '$PROFILE'" >&2; exit 2 ;;
esac
OUT=${OUT:-runs/simreal_$PROFILE}
RECON3R=${RECON3R:-recon3r}
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROUND=${ROUND:-1}
DATA_SEED=${DATA_SEED:-$((ROUND - 1))}
VIEWS=${VIEWS:-8}
SIZE=${SIZE:-224}
EPOCHS_PER_STAGE=${EPOCHS_PER_STAGE:-2}
SAVE_STEPS=${SAVE_STEPS:-100}
RENDER_WORKERS=${RENDER_WORKERS:-$WORKERS}
LOADER_WORKERS=${LOADER_WORKERS:-$WORKERS}
BASE=${BASE:-shipped}  # shipped | none (from scratch) | a model folder
ENC_DIM=${ENC_DIM:-192} ENC_HEADS=${ENC_HEADS:-3} ENC_DEPTH=${ENC_DEPTH:-12}
DEC_DIM=${DEC_DIM:-128} DEC_HEADS=${DEC_HEADS:-4} DEC_DEPTH=${DEC_DEPTH:-8}
MODEL="AsymmetricCroCo3DStereo(pos_embed='RoPE100', patch_embed_cls='PatchEmbedDust3R', img_size=($SIZE, $SIZE), head_type='linear', output_mode='pts3d', depth_mode=('exp', -inf, inf), conf_mode=('exp', 1, inf), landscape_only=False, enc_embed_dim=$ENC_DIM, enc_depth=$ENC_DEPTH, enc_num_heads=$ENC_HEADS, dec_embed_dim=$DEC_DIM, dec_depth=$DEC_DEPTH, dec_num_heads=$DEC_HEADS)"
# Aspect-ratio crops in both orientations: square, 7:5 and 7:6, landscape and portrait (multiples of 16).
NARROW=$((SIZE * 5 / 7 / 16 * 16)) WIDE=$((SIZE * 6 / 7 / 16 * 16))
RESOLUTIONS="[($SIZE, $SIZE), ($SIZE, $NARROW), ($NARROW, $SIZE), ($SIZE, $WIDE), ($WIDE, $SIZE)]"
# Photo textures: the installed packages (make textures), or a packed copy on a machine without them
# (python -c "from recon3r.data.procedural.texture_library import pack_photo_textures as p; p('runs/textures')").
TEXTURE_ROOT=${TEXTURE_ROOT:-/}
DATA=$OUT/data_seed$DATA_SEED
RUN=$OUT/round$ROUND
mkdir -p "$RUN"

# 1. Sim-to-real scenes, one dataset per capture kind (train and a held-out test split).
for kind in pairs forward indoor object; do
  for split in train test; do
    count=$([ $split = train ] && echo "$SCENES" || echo "$TEST_SCENES")
    [ -f "$DATA/$kind/$split/dataset.json" ] || $RECON3R data make-procedural --out "$DATA/$kind/$split" \
      --scenes "$count" --views "$VIEWS" --size "$SIZE" --seed "$DATA_SEED" --split $split --kind $kind \
      --textures photo --texture-root "$TEXTURE_ROOT" --photometric --workers "$RENDER_WORKERS"
  done
done

# 2. The starting model: the shipped one grown deeper (added blocks start as identities), the
#    previous round's result, or none.
if [ "$ROUND" -gt 1 ]; then
  START=$OUT/round$((ROUND - 1))/final
elif [ "$BASE" = none ]; then
  START=
else
  SRC=$BASE
  [ "$BASE" = shipped ] && SRC=$($PYTHON -c "from recon3r.assets import example_model_path; print(example_model_path())")
  [ -f "$RUN/grown/model.safetensors" ] || $PYTHON "$HERE/grow_model.py" grow --src "$SRC" --out "$RUN/grown" \
    --enc-depth "$ENC_DEPTH" --dec-depth "$DEC_DEPTH"
  START=$RUN/grown
fi

# 3. The curriculum. A stage's epoch holds STEPS/EPOCHS_PER_STAGE batches, split evenly over its kinds.
held_out() {
  local spec="" kind
  for kind in "$@"; do
    spec="$spec${spec:+ + }${TEST_PAIRS:-100} @ Procedural(ROOT='$DATA/$kind/test', resolution=($SIZE, $SIZE), min_overlap=0.05)"
  done
  echo "$spec"
}
stage() {  # stage NAME STEPS MIN_OVERLAP KIND...
  local name=$1 steps=$2 overlap=$3; shift 3
  local dir=$RUN/$name train="" kind
  [ -f "$dir/DONE" ] && { echo "$name: done (delete $dir/DONE to train it again)"; return; }
  local per_kind=$(( steps * BATCH / EPOCHS_PER_STAGE / $# ))
  [ "$per_kind" -ge "$BATCH" ] || per_kind=$BATCH
  for kind in "$@"; do
    train="$train${train:+ + }$per_kind @ Procedural(ROOT='$DATA/$kind/train', resolution=$RESOLUTIONS, aug_crop=16, transform=ColorJitter, min_overlap=$overlap)"
  done
  $RECON3R train --model "$MODEL" ${START:+--pretrained "$START"} \
    --train_dataset "$train" --test_dataset "$(held_out object pairs)" \
    --train_criterion "ConfLoss(Regr3D(L21, norm_mode='avg_dis'), alpha=0.2)" \
    --test_criterion "Regr3D_ScaleShiftInv(L21, gt_scale=True)" \
    --lr "$LR" --min_lr 1e-6 --warmup_epochs 0.2 --epochs "$EPOCHS_PER_STAGE" --batch_size "$BATCH" --seed "$ROUND" \
    --eval_freq 1 --save_freq 1 --save_steps "$SAVE_STEPS" --log_freq 10 --num_workers "$LOADER_WORKERS" \
    --output_dir "$dir" "${EXTRA[@]}"
  touch "$dir/DONE"
}
EXTRA=("$@")
read -r STEPS1 STEPS2 STEPS3 <<< "$STEPS"
read -r OVERLAP1 OVERLAP2 OVERLAP3 <<< "${OVERLAPS:-0.5 0.3 0.05}"
stage stage1_narrow "$STEPS1" "$OVERLAP1" forward indoor
START=$RUN/stage1_narrow/checkpoint-last
stage stage2_medium "$STEPS2" "$OVERLAP2" forward indoor object pairs
START=$RUN/stage2_medium/checkpoint-last
stage stage3_wide "$STEPS3" "$OVERLAP3" object pairs indoor

# 4. Ship-sized weights, and the commands that fill benchmarks/README.md's tables.
$PYTHON "$HERE/grow_model.py" half --src "$RUN/stage3_wide/checkpoint-last" --out "$RUN/final"
cat <<EOF
next: evaluate $RUN/final beside the shipped model and COLMAP (benchmarks/README.md, issue 16):
  recon3r eval relpose --benchmark procedural:10:views=4,size=224 --method colmap --method example --method $RUN/final --out $RUN/relpose_procedural.json
  recon3r eval relpose --benchmark ../shared/data/middlebury_dino_sparse_ring --method example --method $RUN/final --out $RUN/relpose_dino.json
  python benchmarks/train_tiny.py --checkpoint $RUN/final
  python benchmarks/confidence.py --weights $RUN/final
EOF
