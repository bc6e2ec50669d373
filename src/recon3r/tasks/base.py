"""What a system trains and is validated on: the `Task` interface shared by every model.

A system is a model plus a task plus an inference pipeline. The task says four things and nothing
else: which samples it needs (`check_sample`), how to batch them (`collate`), its loss (`forward`
then a criterion built from a spec string over `criteria()`), and its held-out metrics (`metrics`).
Everything else (DDP, AMP, accumulation, schedules, exact resume, logs, checkpoints) is the shared
trainer's (`recon3r.train.trainer`). A model names its task with the class attribute `task_name`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import default_collate

from recon3r.data.sample import Sample, check_sample

Batch = Any
Predictions = Any
Details = dict[str, float]


class Task:
    """Base class; subclasses set the class variables and implement `forward` and `criteria`."""

    name: ClassVar[str] = ""
    #: Views per sample this task needs: an exact number, or None with `min_views`.
    num_views: ClassVar[int | None] = None
    min_views: ClassVar[int] = 1
    #: The criterion used when the run names none (parsed against `criteria()`).
    default_criterion: ClassVar[str] = ""
    #: The commands that run a trained model of this task (for messages).
    commands: ClassVar[tuple[str, ...]] = ()
    #: A frozen dataclass of the task's options (`recon3r train --task_options "k=v, ..."`), or None.
    options_class: ClassVar[type | None] = None

    def set_options(self, text: str) -> None:
        """Parse `--task_options` ("name=value, ...") into `options_class` and hand it to `apply_options`.

        Values are literals read with `ast` (never evaluated); unknown names and bad values raise
        ConfigError naming them. An empty text keeps the defaults.
        """
        if not text or not text.strip():
            return
        from recon3r.errors import ConfigError
        from recon3r.models.registry import config_from_kwargs
        from recon3r.utils.spec import parse_spec

        if self.options_class is None:
            raise ConfigError(f"--task_options {text!r}: the {self.name} task takes no options")
        name = self.options_class.__name__
        kwargs = parse_spec(f"{name}({text})", {name: lambda **kw: kw}, what="task options")
        self.apply_options(config_from_kwargs(self.options_class, kwargs, f"--task_options ({self.name} task)"))

    def apply_options(self, options: Any) -> None:
        """Take parsed options (an `options_class` instance); tasks with options override this."""

    def configure(self, model: nn.Module) -> None:
        """Read what the batches depend on from the model (e.g. points per cloud); default: nothing."""

    def check_sample(self, sample: Sample, source: str = "dataset") -> None:
        """Raise ConfigError naming `source` when a sample does not fit this task."""
        check_sample(sample, source, num_views=self.num_views, min_views=self.min_views)

    def collate(self, samples: list[Sample]) -> Batch:
        """A list of samples → one batch (default: a list of per-view batched dicts)."""
        return default_collate(samples)

    def forward(self, model: nn.Module, batch: Batch) -> Predictions:
        """Run the model (call it, so DDP sees the forward) on a batch already on the device."""
        raise NotImplementedError

    def criteria(self) -> Mapping[str, Any]:
        """The names a criterion spec of this task may use (a whitelist, as for datasets)."""
        raise NotImplementedError

    def loss(self, criterion: Any, batch: Batch, predictions: Predictions) -> tuple[Tensor, Details]:
        """(scalar loss, float details) of float32 `predictions`; default `criterion(batch, predictions)`."""
        return criterion(batch, predictions)

    def metrics(self, batch: Batch, predictions: Predictions) -> Details:
        """Held-out metrics of one batch, beyond the criterion's details (default: none)."""
        return {}


def to_float(predictions: Any) -> Any:
    """Floating tensors of a nested prediction (dicts, lists, tuples) in float32 (after autocast)."""
    if torch.is_tensor(predictions):
        return predictions.float() if predictions.is_floating_point() else predictions
    if isinstance(predictions, Mapping):
        return {k: to_float(v) for k, v in predictions.items()}
    if isinstance(predictions, (list, tuple)):
        return type(predictions)(to_float(v) for v in predictions)
    return predictions


def mean_details(details: Mapping[str, Tensor | float]) -> Details:
    """Detach a dict of scalar tensors or floats into floats for logging."""
    return {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in details.items()}
