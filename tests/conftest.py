"""Test-wide settings: one torch thread keeps tiny-model tests fast and steady on small CI machines."""

import torch

torch.set_num_threads(1)
