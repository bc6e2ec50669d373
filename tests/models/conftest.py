"""Fixtures for the pair-model tests: tiny configurations, tiny models and view builders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch


def _random_views(batch: int = 2, height: int = 32, width: int = 48, seed: int = 0) -> tuple[dict, dict]:
    g = torch.Generator().manual_seed(seed)
    img1 = torch.rand(batch, 3, height, width, generator=g) * 2 - 1
    img2 = torch.rand(batch, 3, height, width, generator=g) * 2 - 1
    return {"img": img1}, {"img": img2}


def _views_from_npz(path: Path) -> tuple[dict, dict]:
    z = np.load(path)
    views = []
    for name in ("view1", "view2"):
        view = {"img": torch.from_numpy(z[f"{name}_img"]), "true_shape": torch.from_numpy(z[f"{name}_true_shape"])}
        if f"{name}_instance" in z.files:
            view["instance"] = [str(s) for s in z[f"{name}_instance"]]
        views.append(view)
    return views[0], views[1]


@pytest.fixture
def random_views():
    """`random_views(batch=2, height=32, width=48, seed=0)` → (view1, view2) with images in [-1, 1]."""
    return _random_views


@pytest.fixture
def golden_views():
    """`golden_views(path_to_inputs_npz)` → the two view dicts the model takes."""
    return _views_from_npz


@pytest.fixture
def tiny_linear_model():
    from recon3r.models import TINY_CONFIGS, AsymmetricCroCo3DStereo

    torch.manual_seed(0)
    return AsymmetricCroCo3DStereo(**TINY_CONFIGS["tiny_linear"]).eval()


@pytest.fixture
def tiny_dpt_model():
    from recon3r.models import TINY_CONFIGS, AsymmetricCroCo3DStereo

    torch.manual_seed(0)
    return AsymmetricCroCo3DStereo(**TINY_CONFIGS["tiny_dpt"]).eval()
