"""Batched pair inference: run a pair model over a list of image pairs."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PairPrediction:
    """The pair model's output for one ordered pair (i, j), both pointmaps in camera i's frame.

    Tensors live on the CPU, float32, at each image's network resolution (H_i, W_i) / (H_j, W_j).
    """

    i: int
    j: int
    pts_i: torch.Tensor  # (H_i, W_i, 3) points of image i in camera i's frame
    conf_i: torch.Tensor  # (H_i, W_i)
    pts_j: torch.Tensor  # (H_j, W_j, 3) points of image j, also in camera i's frame
    conf_j: torch.Tensor  # (H_j, W_j)
