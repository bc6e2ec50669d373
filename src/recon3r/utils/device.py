"""Device selection in one place (no hard-coded accelerators elsewhere)."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """`None` or "auto" picks the first accelerator when one is present, else the CPU."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "", "auto"):
        if torch.accelerator.is_available():
            return torch.accelerator.current_accelerator()
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        from recon3r.errors import Recon3rError

        raise Recon3rError(f"unknown device {name!r}: {err}") from None
    if device.type != "cpu" and device.type != "meta":
        accelerator = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
        if accelerator is None or accelerator.type != device.type:
            from recon3r.errors import Recon3rError

            raise Recon3rError(f"device {name!r} was requested but is not available here; use --device cpu")
    return device


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for a module with neither)."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")
