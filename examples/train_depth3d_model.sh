#!/usr/bin/env bash
# Train the shipped depth-to-3D model (src/recon3r/assets/depth3d_model) through `recon3r train`, on one CPU
# thread. See examples/depth3d_model_training.md for the recipe, the machine and the held-out numbers.
set -euo pipefail
export OMP_NUM_THREADS=1
DATA=${DATA:-runs/depth3d_data}
RUN=${RUN:-runs/depth3d_model}

# 1. Training depth maps, rendered once: 3000 rooms and yards, 3000 single objects with no background.
[ -d "$DATA/scenes" ] || python -m recon3r data make-procedural --out "$DATA/scenes" --scenes 3000 --views 1 \
    --size 64 --kind pairs --seed 0 --split train
[ -d "$DATA/objects" ] || python -m recon3r data make-procedural --out "$DATA/objects" --scenes 3000 --views 1 \
    --size 64 --kind isolated --seed 0 --split train

# 2. Train (held-out 'test' scenes and objects, rendered on the fly, are scored every 5 epochs).
python -m recon3r train \
    --model "Depth3DModel(num_points=512, input_channels=5)" \
    --train_dataset "3000 @ Procedural(ROOT='$DATA/scenes', num_views=1, resolution=None) + 3000 @ Procedural(ROOT='$DATA/objects', num_views=1, resolution=None)" \
    --test_dataset "Procedural(scenes=64, views=1, kind='pairs', size=64, num_views=1, resolution=None, split='test') + Procedural(scenes=64, views=1, kind='isolated', size=64, num_views=1, resolution=None, split='test')" \
    --epochs 25 --batch_size 32 --lr 1e-3 --min_lr 1e-5 --warmup_epochs 0.3 --weight_decay 1e-4 \
    --eval_freq 5 --log_freq 50 --seed 0 --device cpu --output_dir "$RUN"

# 3. Ship the last checkpoint's model (safetensors + config.json) and its log.
python - "$RUN" <<'EOF'
import shutil, sys
from pathlib import Path
run, assets = Path(sys.argv[1]), Path("src/recon3r/assets/depth3d_model")
for name in ("model.safetensors", "config.json"):
    shutil.copy(run / "checkpoint-last" / name, assets / name)
logs = Path("examples/depth3d_model_logs")
logs.mkdir(exist_ok=True)
shutil.copy(run / "metrics.csv", logs / "metrics.csv")
EOF
