"""Tasks: what each system trains on, its batches, loss and held-out metrics (see `tasks.base`).

`task_for(model)` picks the task from the model class's `task_name`; the shared trainer and
evaluator use it, so a new system is a model class plus a `Task` subclass registered here.
"""

from __future__ import annotations

import importlib
from typing import Any

from recon3r.errors import ConfigError
from recon3r.tasks.base import Task

# task name -> "module:class", imported on first use.
_TASKS: dict[str, str] = {
    "pair": "recon3r.tasks.pair:PairTask",
    "depth_to_3d": "recon3r.tasks.depth_to_3d:DepthTo3DTask",
    "stream": "recon3r.tasks.stream:StreamTask",
    "single_image": "recon3r.tasks.single_image:SingleImageTask",
}

__all__ = ["Task", "get_task", "list_tasks", "task_for"]


def list_tasks() -> list[str]:
    return sorted(_TASKS)


def get_task(name: str) -> Task:
    """A fresh task object by name; ConfigError listing the known names otherwise."""
    if name not in _TASKS:
        raise ConfigError(f"unknown task {name!r} (known: {', '.join(list_tasks())})")
    module_name, attribute = _TASKS[name].split(":")
    return getattr(importlib.import_module(module_name), attribute)()


def task_for(model: Any) -> Task:
    """The task of a model instance or class (its `task_name` class attribute)."""
    cls = model if isinstance(model, type) else type(model)
    name = getattr(cls, "task_name", None)
    if not isinstance(name, str):
        raise ConfigError(f"{cls.__name__} declares no task (class attribute `task_name`); it cannot be trained here")
    return get_task(name)
