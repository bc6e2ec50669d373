"""Fixtures for the pair-model tests (helpers live in `pair_helpers`, importable by name)."""

from __future__ import annotations

import pytest
import torch
from pair_helpers import TINY_DPT, TINY_LINEAR


@pytest.fixture
def tiny_linear_model():
    from recon3r.models import AsymmetricCroCo3DStereo

    torch.manual_seed(0)
    return AsymmetricCroCo3DStereo(**TINY_LINEAR).eval()


@pytest.fixture
def tiny_dpt_model():
    from recon3r.models import AsymmetricCroCo3DStereo

    torch.manual_seed(0)
    return AsymmetricCroCo3DStereo(**TINY_DPT).eval()
