"""The training loop: one process or many (torchrun + DDP), resumable to the step.

`train(config)` is what `recon3r train` calls. The `Trainer` object exposes the pieces
(`train_step`, `evaluate`, `save`) so tests and notebooks can drive them directly.
"""

from __future__ import annotations

import csv
import dataclasses
import gc
import json
import math
import random
import time
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from recon3r.errors import ConfigError
from recon3r.models.dust3r_text import model_spec_for_exif_path
from recon3r.tasks import task_for
from recon3r.tasks.base import to_float
from recon3r.train.checkpointing import (
    find_resumable_checkpoint,
    load_training_checkpoint,
    save_training_checkpoint,
)
from recon3r.train.config import TrainConfig
from recon3r.train.distributed import (
    DistributedContext,
    init_distributed,
    mean_across_ranks,
    shutdown_distributed,
)
from recon3r.train.pretrained import format_pretrained_report, load_pretrained
from recon3r.train.sampler import ResumableSampler
from recon3r.train.schedule import learning_rate_at, set_learning_rate
from recon3r.utils.device import resolve_device
from recon3r.utils.progress import progress
from recon3r.utils.spec import parse_spec, split_top_level_sum


def build_model(spec: str) -> torch.nn.Module:
    """Build a registered model from a constructor string (`"AsymmetricCroCo3DStereo(...)"`)."""
    from recon3r.models.checkpoint import parse_constructor
    from recon3r.models.registry import build_model as build_registered

    name, kwargs = parse_constructor(spec)
    return build_registered(name, kwargs)


def build_dataset(spec: str):
    from recon3r.data.registry import parse_dataset

    return parse_dataset(spec)


def build_criterion(spec: str, namespace: Mapping[str, Any] | None = None):
    """A criterion from its spec string, over a task's whitelist (default: the pair losses)."""
    if namespace is None:
        from recon3r.train.losses import LOSSES

        namespace = LOSSES
    return parse_spec(spec, namespace, what="criterion")


def first_item(dataset) -> Any:
    """Item 0 of a dataset (at resolution index 0 when it has several resolutions)."""
    if len(dataset) == 0:
        raise ConfigError(f"dataset {dataset!r} is empty")
    resolutions = getattr(dataset, "resolutions", None)
    return dataset[(0, 0)] if resolutions is not None and len(resolutions) > 1 else dataset[0]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a nested batch (dicts, lists, tuples) to `device`."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on biases, norms and 1-D parameters.

    A model may provide `extra_parameter_groups()` returning `(names, lr_scale)` pairs,
    e.g. a text encoder fine-tuned at its own learning rate.
    """
    special: dict[str, float] = {}
    if hasattr(model, "extra_parameter_groups"):
        for names, lr_scale in model.extra_parameter_groups():
            special.update(dict.fromkeys(names, lr_scale))
    buckets: dict[tuple[bool, float], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim <= 1 or name.endswith(".bias")
        buckets.setdefault((no_decay, special.get(name, 1.0)), []).append(param)
    return [
        {"params": params, "weight_decay": 0.0 if no_decay else weight_decay, "lr_scale": lr_scale}
        for (no_decay, lr_scale), params in sorted(buckets.items())
    ]


class MetricsLog:
    """Long-format CSV (`time, split, epoch, step, name, value`) plus optional TensorBoard."""

    def __init__(self, output_dir: Path, enabled: bool, tensorboard: bool):
        self.enabled = enabled
        self.path = output_dir / "metrics.csv"
        self.writer = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as err:
                raise ConfigError("--tensorboard needs the tensorboard package: pip install tensorboard") from err
            self.writer = SummaryWriter(log_dir=str(output_dir / "tensorboard"))

    def write(self, split: str, epoch: int, step: int, values: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        new = not self.path.exists()
        with self.path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["time", "split", "epoch", "step", "name", "value"])
            now = f"{time.time():.3f}"
            for name, value in values.items():
                writer.writerow([now, split, epoch, step, name, f"{value:.8g}"])
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"{split}/{name}", value, step)
            self.writer.flush()


class Trainer:
    """Holds the model, data, optimizer and bookkeeping of one run (one process of it under DDP)."""

    def __init__(self, config: TrainConfig, show_progress: bool = True):
        config.validate()
        self.config = config
        self.device = resolve_device(config.device)
        self.context: DistributedContext = init_distributed(self.device)
        if self.device.type == "cuda" and self.context.enabled:
            self.device = torch.device(self.device.type, self.context.local_rank)
            torch.cuda.set_device(self.device)
        seed_everything(config.seed + self.context.rank)
        self.show_progress = show_progress and self.context.is_main
        self.output_dir = Path(config.output_dir)
        if self.context.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)

        self.model = build_model(model_spec_for_exif_path(config.model, config.exif_path))
        if config.pretrained:
            report = load_pretrained(self.model, config.pretrained)
            if self.context.is_main:
                print(format_pretrained_report(config.pretrained, report))
        if config.duster_path or config.exif_path:
            self.load_pretrained_parts()
        if config.freeze_encoder:
            if not hasattr(self.model, "set_freeze"):
                raise ConfigError(f"--freeze_encoder: {type(self.model).__name__} has no encoder to freeze")
            self.model.set_freeze("encoder")
        self.model.to(self.device)
        # The model's class picks its task: samples, batches, loss and held-out metrics.
        self.task = task_for(self.model)
        self.task.set_options(config.task_options)
        self.task.configure(self.model)

        self.train_set = build_dataset(config.train_dataset)
        self.test_sets = {term: build_dataset(term) for term in split_top_level_sum(config.test_dataset)} if config.test_dataset else {}
        self.task.check_sample(first_item(self.train_set), source=config.train_dataset)
        for term, dataset in self.test_sets.items():
            self.task.check_sample(first_item(dataset), source=term)
        criteria = self.task.criteria()
        self.criterion = build_criterion(config.train_criterion or self.task.default_criterion, criteria)
        self.test_criterion = build_criterion(config.test_criterion, criteria) if config.test_criterion else self.criterion

        self.lr = config.resolved_lr(self.context.world_size)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.model, config.weight_decay), lr=self.lr, betas=(0.9, 0.95))
        use_fp16 = config.amp and self.device.type == "cuda"
        self.amp_dtype = torch.float16 if use_fp16 else torch.bfloat16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=use_fp16)

        self.sampler = ResumableSampler(
            len(self.train_set), self.context.world_size, self.context.rank, shuffle=True, seed=config.seed
        )
        self.micro_batches_per_epoch = len(self.sampler) // config.batch_size
        self.steps_per_epoch = self.micro_batches_per_epoch // config.accum_iter
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"the training set has {len(self.train_set)} samples: too few for one step of "
                f"batch_size={config.batch_size} x accum_iter={config.accum_iter} x {self.context.world_size} process(es)"
            )
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best_test_loss = math.inf
        self.log = MetricsLog(self.output_dir, self.context.is_main, config.tensorboard)

        checkpoint = find_resumable_checkpoint(self.output_dir)
        if checkpoint is not None:
            state = load_training_checkpoint(checkpoint, self.model, self.optimizer, self.scaler)
            self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
            self.global_step, self.best_test_loss = state["global_step"], state["best_test_loss"]
            if self.context.is_main:
                print(f"resumed from {checkpoint} at epoch {self.epoch}, step {self.global_step}")

        self.ddp_model = self.model
        if self.context.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            # Some registered parameters (DUSt3R's `mask_token`) never receive gradients: DDP must know,
            # or the bucket holding them is never reduced.
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=device_ids, find_unused_parameters=True
            )

    def load_pretrained_parts(self) -> None:
        """`--duster_path` / `--exif_path`: the model's own `load_pretrained_parts` hook loads them."""
        hook = getattr(self.model, "load_pretrained_parts", None)
        if not callable(hook):
            raise ConfigError(
                f"--duster_path/--exif_path: {type(self.model).__name__} has no parts to load them into "
                "(a multimodal model does; use --pretrained for a pair model)"
            )
        report = hook(duster_path=self.config.duster_path or None, exif_path=self.config.exif_path or None)
        if self.context.is_main:
            groups: dict[str, int] = {}
            for name in report.get("new", []):
                groups[name.split(".")[0]] = groups.get(name.split(".")[0], 0) + 1
            new = ", ".join(f"{group} ({count})" for group, count in groups.items()) or "none"
            print(f"loaded {len(report.get('loaded', []))} tensors from --duster_path/--exif_path; new: {new}")

    # -- one step -------------------------------------------------------------------------

    def autocast(self):
        if not self.config.amp:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def compute_loss(self, batch, model: torch.nn.Module | None = None, criterion=None,
                     with_metrics: bool = False) -> tuple[torch.Tensor, dict]:
        """Forward one collated batch through the task and return (loss, detail floats).

        The forward runs under autocast (with --amp); the loss and metrics in float32.
        """
        batch = to_device(batch, self.device)
        model = model or self.ddp_model
        with self.autocast():
            predictions = self.task.forward(model, batch)
        criterion = criterion or self.criterion
        with torch.autocast(device_type=self.device.type, enabled=False):
            predictions = to_float(predictions)
            loss, details = self.task.loss(criterion, batch, predictions)
            details = {k: float(v) for k, v in (details or {}).items()}
            if with_metrics:
                details.update(self.task.metrics(batch, predictions))
        return loss, details

    def backward_micro_batch(self, batch, sync: bool) -> tuple[float, dict]:
        """Accumulate gradients of one micro-batch; DDP reduces them only when `sync`."""
        no_sync = self.ddp_model.no_sync if (self.context.enabled and not sync) else nullcontext
        with no_sync():
            loss, details = self.compute_loss(batch)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"loss is {value} at epoch {self.epoch}, step {self.global_step}; "
                    "lower --lr, check the data, or disable --amp"
                )
            self.scaler.scale(loss / self.config.accum_iter).backward()
        return value, details

    def optimizer_step(self) -> None:
        if self.config.clip_grad > 0:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the loss-scaled ones
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    # -- loops ----------------------------------------------------------------------------

    def train_loader(self) -> DataLoader:
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(self.epoch)
        skip = self.step_in_epoch * self.config.accum_iter * self.config.batch_size
        sampler = self.sampler
        resolutions = getattr(self.train_set, "resolutions", None)
        if resolutions is not None and len(resolutions) > 1:
            # Aspect-ratio-aware training: every batch shares one resolution, drawn from (seed, epoch, batch).
            from recon3r.data.sampler import ResolutionBatchSampler

            sampler = ResolutionBatchSampler(self.sampler, self.config.batch_size, len(resolutions), seed=self.config.seed)
        sampler.set_epoch(self.epoch, start=skip)
        return DataLoader(
            self.train_set,
            batch_size=self.config.batch_size,
            sampler=sampler,
            num_workers=self.config.num_workers,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            collate_fn=self.task.collate,
            # The loader's base seed comes from its own generator, not torch's global RNG, so a resumed
            # run's global RNG (saved in checkpoints; drawn by e.g. caption dropout) continues exactly.
            generator=torch.Generator().manual_seed(self.config.seed + self.epoch),
        )

    def fit(self) -> dict[str, Any]:
        config = self.config
        stop = False
        last_metrics: dict[str, float] = {}
        while self.epoch < config.epochs and not stop:
            self.model.train()
            micro_total = (self.steps_per_epoch - self.step_in_epoch) * config.accum_iter
            sums: dict[str, float] = {}
            count = 0
            batches = progress(
                self.train_loader(), desc=f"epoch {self.epoch + 1}/{config.epochs}", total=micro_total, enabled=self.show_progress
            )
            for index, batch in enumerate(batches):
                if index >= micro_total:
                    break
                if index % config.accum_iter == 0:
                    epoch_float = self.epoch + self.step_in_epoch / self.steps_per_epoch
                    set_learning_rate(
                        self.optimizer, learning_rate_at(epoch_float, self.lr, config.min_lr, config.warmup_epochs, config.epochs)
                    )
                sync = (index + 1) % config.accum_iter == 0
                loss, details = self.backward_micro_batch(batch, sync)
                for key, value in {"loss": loss, **details}.items():
                    sums[key] = sums.get(key, 0.0) + value
                count += 1
                if not sync:
                    continue
                self.optimizer_step()
                self.step_in_epoch += 1
                self.global_step += 1
                if self.global_step % config.log_freq == 0:
                    values = {k: v / count for k, v in sums.items()}
                    values["lr"] = self.optimizer.param_groups[0]["lr"] / self.optimizer.param_groups[0].get("lr_scale", 1.0)
                    last_metrics = mean_across_ranks(values, self.context, self.device)
                    self.log.write("train", self.epoch, self.global_step, last_metrics)
                    sums, count = {}, 0
                if config.max_steps and self.global_step >= config.max_steps:
                    stop = True
                    break
                if config.save_steps and self.global_step % config.save_steps == 0:
                    self.save("checkpoint-last")
            if count:  # the epoch's last, partial logging window
                values = mean_across_ranks({k: v / count for k, v in sums.items()}, self.context, self.device)
                self.log.write("train", self.epoch, self.global_step, values)
                last_metrics = values
            if stop:
                self.save("checkpoint-last")
                break
            finished_epoch = self.epoch
            self.epoch += 1
            self.step_in_epoch = 0
            if self.test_sets and (self.epoch % config.eval_freq == 0 or self.epoch == config.epochs):
                test_loss = self.evaluate_all(finished_epoch)
                if test_loss < self.best_test_loss:
                    self.best_test_loss = test_loss
                    self.save("checkpoint-best")
            if self.epoch % config.save_freq == 0 or self.epoch == config.epochs:
                self.save("checkpoint-last")
            if config.keep_freq and self.epoch % config.keep_freq == 0:
                self.save(f"checkpoint-{self.epoch}")
        return {"epoch": self.epoch, "global_step": self.global_step, "train": last_metrics, "best_test_loss": self.best_test_loss}

    @torch.inference_mode()
    def evaluate(self, dataset, name: str) -> dict[str, float]:
        """Mean test loss and details over a dataset (all ranks together)."""
        self.model.eval()
        sampler = ResumableSampler(len(dataset), self.context.world_size, self.context.rank, shuffle=False)
        loader = DataLoader(dataset, batch_size=self.config.batch_size, sampler=sampler, num_workers=self.config.num_workers,
                            collate_fn=self.task.collate)
        sums: dict[str, float] = {}
        batches = 0
        for batch in progress(loader, desc=f"test {name}", enabled=self.show_progress):
            loss, details = self.compute_loss(batch, model=self.model, criterion=self.test_criterion, with_metrics=True)
            for key, value in {"loss": float(loss), **details}.items():
                sums[key] = sums.get(key, 0.0) + value
            batches += 1
        values = {k: v / max(batches, 1) for k, v in sums.items()}
        return mean_across_ranks(values, self.context, self.device)

    def evaluate_all(self, epoch: int) -> float:
        losses = []
        for name, dataset in self.test_sets.items():
            values = self.evaluate(dataset, name)
            self.log.write(f"test:{name}", epoch, self.global_step, values)
            if self.context.is_main:
                print(f"epoch {epoch + 1} test {name}: " + ", ".join(f"{k}={v:.4g}" for k, v in values.items()))
            losses.append(values["loss"])
        return float(np.mean(losses))

    def save(self, name: str) -> None:
        if not self.context.is_main:
            return
        progress_state = {
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "best_test_loss": self.best_test_loss,
        }
        save_training_checkpoint(self.output_dir / name, self.model, self.optimizer, progress_state, self.config, self.scaler)

    def close(self, finished: bool = False) -> None:
        # Release DDP (its reducer holds gloo work objects) and the data loaders' state before leaving
        # the process group, so no gloo thread outlives the objects it refers to at interpreter exit.
        self.ddp_model = self.model
        gc.collect()
        shutdown_distributed(wait_for_all=finished)


def train(config: TrainConfig, show_progress: bool = True) -> dict[str, Any]:
    """Run (or resume) a training run described by `config`; returns a summary."""
    trainer = Trainer(config, show_progress=show_progress)
    finished = False
    try:
        summary = trainer.fit()
        if trainer.context.is_main:
            (trainer.output_dir / "summary.json").write_text(
                json.dumps({**summary, "config": dataclasses.asdict(config)}, indent=1, default=str)
            )
        finished = True
        return summary
    finally:
        trainer.close(finished=finished)
