"""Training configuration: one typed dataclass, also the source of `recon3r train --help`.

Flag names follow the reference DUSt3R trainer (`--train_dataset`, `--lr`, `--accum_iter`, ...),
so existing command lines carry over.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    """Everything a training run needs; saved next to each checkpoint as `train_config.json`."""

    # What to train.
    model: str = field(default="", metadata={"help": "model spec, e.g. \"AsymmetricCroCo3DStereo(pos_embed='RoPE100', ...)\""})
    train_dataset: str = field(default="", metadata={"help": "dataset mix, e.g. \"1000 @ Procedural(split='train') + 2 * Co3d(...)\""})
    test_dataset: str = field(default="", metadata={"help": "test datasets; a top-level '+' evaluates each term separately"})
    train_criterion: str = field(
        default="", metadata={"help": "training loss spec (default: the model's task's loss; pair models: "
                              "ConfLoss(Regr3D(L21, norm_mode='avg_dis'), alpha=0.2))"}
    )
    test_criterion: str = field(default="", metadata={"help": "test loss spec (defaults to the training loss)"})
    task_options: str = field(
        default="", metadata={"help": "options of the model's task as keywords, e.g. depth-to-3D: \"targets='focal', "
                              "distort_shift=False\" (see the task's options class, e.g. recon3r.tasks.depth_to_3d.Depth3DOptions)"}
    )
    pretrained: str = field(default="", metadata={"help": "initialise from a checkpoint: a DUSt3R or CroCo .pth, a model folder (recon3r's, or a released OpenLRM one) or a .safetensors file"})
    duster_path: str = field(
        default="", metadata={"help": "multimodal models: load the image part from DUSt3R weights (.pth or safetensors); every image parameter must match"}
    )
    exif_path: str = field(
        default="", metadata={"help": "multimodal models: load the text tower from an Exif-as-Language checkpoint (selects text_encoder='exif' when --model names none)"}
    )
    freeze_encoder: bool = field(default=False, metadata={"help": "keep the image encoder fixed"})

    # Optimisation.
    lr: float | None = field(default=None, metadata={"help": "absolute learning rate (default: blr * total_batch / 256)"})
    blr: float = field(default=1.5e-4, metadata={"help": "base learning rate, scaled by the total batch size / 256"})
    min_lr: float = field(default=0.0, metadata={"help": "learning rate reached at the end of the cosine schedule"})
    warmup_epochs: float = field(default=0.0, metadata={"help": "epochs of linear warm-up"})
    epochs: int = field(default=10, metadata={"help": "number of epochs"})
    batch_size: int = field(default=8, metadata={"help": "batch size per process"})
    accum_iter: int = field(default=1, metadata={"help": "micro-batches accumulated per optimizer step"})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay (not applied to biases and norms)"})
    amp: bool = field(default=False, metadata={"help": "mixed precision (bfloat16 on CPU, float16 on GPU)"})
    max_steps: int = field(default=0, metadata={"help": "stop after this many optimizer steps in total (0: no limit)"})
    clip_grad: float = field(default=0.0, metadata={"help": "clip the gradient norm to this value before each step "
                                                    "(0: off, as DUSt3R; Point3R/CUT3R train with 1.0)"})

    # Bookkeeping.
    output_dir: str = field(default="runs/train", metadata={"help": "where checkpoints and logs go"})
    save_freq: int = field(default=1, metadata={"help": "write checkpoint-last every N epochs"})
    save_steps: int = field(default=0, metadata={"help": "also write checkpoint-last every N optimizer steps (0: off)"})
    keep_freq: int = field(default=0, metadata={"help": "keep a copy checkpoint-EPOCH every N epochs (0: off)"})
    eval_freq: int = field(default=1, metadata={"help": "evaluate the test datasets every N epochs"})
    log_freq: int = field(default=10, metadata={"help": "log training metrics every N optimizer steps"})
    tensorboard: bool = field(default=False, metadata={"help": "also write TensorBoard event files (needs tensorboard)"})
    seed: int = field(default=0, metadata={"help": "random seed (per-rank seeds are derived from it)"})
    num_workers: int = field(default=0, metadata={"help": "data loader worker processes"})
    device: str = field(default="auto", metadata={"help": "cpu, cuda, cuda:1, ... (auto: the accelerator if present)"})

    def total_batch_size(self, world_size: int) -> int:
        return self.batch_size * self.accum_iter * world_size

    def resolved_lr(self, world_size: int) -> float:
        return self.lr if self.lr is not None else self.blr * self.total_batch_size(world_size) / 256

    def validate(self) -> None:
        from recon3r.errors import ConfigError

        if not self.model:
            raise ConfigError("--model is required (a model spec string)")
        if not self.train_dataset:
            raise ConfigError("--train_dataset is required (a dataset spec string)")
        for name in ("epochs", "batch_size", "accum_iter", "save_freq", "eval_freq", "log_freq"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.clip_grad < 0:
            raise ConfigError(f"--clip_grad must be >= 0 (0: off), got {self.clip_grad}")
        if self.warmup_epochs < 0 or self.warmup_epochs > self.epochs:
            raise ConfigError(f"--warmup_epochs must be in [0, epochs={self.epochs}], got {self.warmup_epochs}")
