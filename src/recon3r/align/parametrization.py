"""How the optimiser parametrises poses: unit quaternions and log-scaled translations.

Adam's step is roughly the learning rate in parameter units, so each quantity is stored in a
unit where a step of `lr` means the same relative change everywhere: rotations as (unnormalised)
quaternions, translations through sign(x)·log(1 + |x|), scales and depths as logarithms.
Quaternions are (x, y, z, w), scalar last.
"""

from __future__ import annotations

import torch
from torch import Tensor


def signed_log1p(x: Tensor) -> Tensor:
    """sign(x)·log(1 + |x|), elementwise."""
    return torch.sign(x) * torch.log1p(x.abs())


def signed_expm1(x: Tensor) -> Tensor:
    """sign(x)·(exp(|x|) − 1), the inverse of `signed_log1p`."""
    return torch.sign(x) * torch.expm1(x.abs())


def quaternion_to_matrix(quaternion: Tensor) -> Tensor:
    """(..., 4) quaternions (x, y, z, w), any non-zero norm, to (..., 3, 3) rotation matrices."""
    x, y, z, w = torch.nn.functional.normalize(quaternion, dim=-1).unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    rows = [
        1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
        2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
        2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*quaternion.shape[:-1], 3, 3)


def matrix_to_quaternion(rotation: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrices to (..., 4) unit quaternions (x, y, z, w) with w ≥ 0.

    Uses the largest of the four candidate divisors for each matrix (Shepperd's method), so it
    stays accurate for rotations near 180°.
    """
    m = rotation
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4·q_k² for k = w, x, y, z.
    squares = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1
    )
    candidates = torch.stack(
        [
            torch.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] - m[..., 0, 1],
                    squares[..., 0],
                ],
                -1,
            ),
            torch.stack(
                [
                    squares[..., 1],
                    m[..., 1, 0] + m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 2, 1] - m[..., 1, 2],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 1, 0] + m[..., 0, 1],
                    squares[..., 2],
                    m[..., 2, 1] + m[..., 1, 2],
                    m[..., 0, 2] - m[..., 2, 0],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 2, 1] + m[..., 1, 2],
                    squares[..., 3],
                    m[..., 1, 0] - m[..., 0, 1],
                ],
                -1,
            ),
        ],
        dim=-2,
    )  # (..., 4, 4): row k is 4·q_k·(x, y, z, w)
    best = squares.argmax(dim=-1)
    chosen = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4))[..., 0, :]
    quaternion = torch.nn.functional.normalize(chosen, dim=-1)
    return torch.where(quaternion[..., 3:] < 0, -quaternion, quaternion)
