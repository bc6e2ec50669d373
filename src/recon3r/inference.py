"""Batched pair inference: run a pair model over a list of image pairs."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from recon3r.utils.cancel import CancelCheck, raise_if_cancelled
from recon3r.utils.device import module_device

if TYPE_CHECKING:
    from recon3r.io.images import View


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


def run_pairs(
    model: torch.nn.Module,
    pairs: Sequence[tuple[View, View]],
    batch_size: int = 8,
    device: torch.device | str | None = None,
    progress: bool = True,
    amp_dtype: torch.dtype | None = None,
    cancel: CancelCheck | None = None,
) -> list[PairPrediction]:
    """Run a DUSt3R-interface pair model over `pairs`; predictions come back in the order of `pairs`.

    Pairs whose two images have the same shapes are batched together (at most `batch_size` per call),
    with a pair and its reverse placed next to each other. A DUSt3R model (`AsymmetricCroCo3DStereo`
    and subclasses that keep its `forward` and `encode_pair`) encodes each image once for the whole
    run, however many pairs it belongs to: the encoder tokens of every image are kept (on the
    device, N × tokens × enc_dim) and each batch runs only the decoder and heads
    (`forward_encoded`). Any other model is called as `model(view1, view2)`.
    After each batch only `pts3d`/`conf` are kept, moved to the CPU as float32: memory grows with
    the number of pairs times the output size, never with the model's intermediate features.
    The device is `device` or else the model's parameters' device; `amp_dtype` enables autocast.
    The model's train/eval mode is left as it is. `cancel` (see `recon3r.utils.cancel`) is asked
    before each batch; when it returns True, `recon3r.errors.Cancelled` is raised.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if device is None:
        device = module_device(model)
    device = torch.device(device)
    batches = group_pairs(pairs, batch_size)
    encodings = EncodingCache(model) if encodes_images_once(model) else None
    out: list[PairPrediction | None] = [None] * len(pairs)
    from recon3r.utils.progress import progress as progress_bar

    desc = f"pair inference ({len(pairs)} pairs)"
    for number, batch in enumerate(progress_bar(batches, desc=desc, total=len(batches), enabled=progress)):
        raise_if_cancelled(cancel, f"pair inference batch {number + 1} of {len(batches)}")
        predictions = _run_batch(model, [pairs[k] for k in batch], device, amp_dtype, encodings)
        for k, prediction in zip(batch, predictions):
            out[k] = prediction
    return out  # type: ignore[return-value]


def group_pairs(pairs: Sequence[tuple[View, View]], batch_size: int) -> list[list[int]]:
    """Split pair positions into batches of equal (shape_1, shape_2), each at most `batch_size` long.

    Within a shape group, a pair (a, b) is followed by its reverse (b, a) when both are present.
    """
    groups: dict[tuple, list[int]] = {}
    for k, (view1, view2) in enumerate(pairs):
        key = (tuple(view1.img.shape[-2:]), tuple(view2.img.shape[-2:]))
        groups.setdefault(key, []).append(k)
    batches: list[list[int]] = []
    for members in groups.values():
        ordered = _interleave_reverses(pairs, members)
        batches.extend(ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size))
    return batches


def _interleave_reverses(pairs: Sequence[tuple[View, View]], members: list[int]) -> list[int]:
    # Keyed on the view objects themselves, so that only truly reversed pairs are placed together.
    by_edge: dict[tuple[int, int], list[int]] = {}
    for k in members:
        by_edge.setdefault((id(pairs[k][0]), id(pairs[k][1])), []).append(k)
    ordered, used = [], set()
    for k in members:
        if k in used:
            continue
        ordered.append(k)
        used.add(k)
        reverse = [r for r in by_edge.get((id(pairs[k][1]), id(pairs[k][0])), []) if r not in used]
        if reverse:
            ordered.append(reverse[0])
            used.add(reverse[0])
    return ordered


def encodes_images_once(model: torch.nn.Module) -> bool:
    """True for a DUSt3R pair model whose forward is `encode_pair` then `forward_encoded` (see `run_pairs`)."""
    from recon3r.models.dust3r import AsymmetricCroCo3DStereo

    cls = type(model)
    overridden = {"forward", "encode_pair"} & set(vars(model))  # wrapped on the instance (a spy, a hook)
    return (isinstance(model, AsymmetricCroCo3DStereo) and cls.forward is AsymmetricCroCo3DStereo.forward
            and cls.encode_pair is AsymmetricCroCo3DStereo.encode_pair and not overridden)


class EncodingCache:
    """Encoder tokens and positions of each image, computed once with `model.encode_image`.

    Keyed by the `View` object (a pair graph shares its views between pairs). `encode(views, device)`
    encodes the views not seen yet, in one `encode_image` call per tensor shape.
    """

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.tokens: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._views: list[View] = []  # keeps the keyed views alive, so their ids stay unique

    def encode(self, views: Sequence[View], device: torch.device) -> None:
        missing: dict[tuple[int, ...], dict[int, View]] = {}
        for view in views:
            if id(view) not in self.tokens:
                missing.setdefault(tuple(view.img.shape), {})[id(view)] = view
        for group in (list(g.values()) for g in missing.values()):
            img = torch.cat([v.img for v in group]).to(device, non_blocking=True)
            shape = torch.cat([v.true_shape for v in group]).to("cpu", torch.int64)
            feat, pos = self.model.encode_image(img, shape)
            for b, view in enumerate(group):
                self.tokens[id(view)] = (feat[b], pos[b])
                self._views.append(view)

    def pair_encoding(self, batch: Sequence[tuple[View, View]], view1: dict, view2: dict):
        """The `PairEncoding` of a batch whose views were encoded."""
        from recon3r.models.dust3r import PairEncoding, true_shape_of

        feat1, pos1 = (torch.stack(t) for t in zip(*(self.tokens[id(a)] for a, _ in batch)))
        feat2, pos2 = (torch.stack(t) for t in zip(*(self.tokens[id(b)] for _, b in batch)))
        return PairEncoding(feat1, feat2, pos1, pos2, true_shape_of(view1), true_shape_of(view2))


def _stack_views(views: Sequence[View], device: torch.device) -> dict:
    return {
        "img": torch.cat([v.img for v in views]).to(device, non_blocking=True),
        "true_shape": torch.cat([v.true_shape for v in views]).to(device),
        "idx": [v.idx for v in views],
        "instance": [v.instance for v in views],
        "caption": [v.caption or "" for v in views],  # "" = no caption; image-only models ignore it
    }


def _run_batch(model, batch: Sequence[tuple[View, View]], device: torch.device,
               amp_dtype: torch.dtype | None, encodings: EncodingCache | None = None) -> list[PairPrediction]:
    # A separate function so that the model's raw outputs (and anything else it returned) are
    # released when it returns, before the next batch runs.
    view1 = _stack_views([p[0] for p in batch], device)
    view2 = _stack_views([p[1] for p in batch], device)
    autocast = (torch.autocast(device_type=device.type, dtype=amp_dtype) if amp_dtype is not None
                else contextlib.nullcontext())
    with torch.inference_mode(), autocast:
        if encodings is None:
            res1, res2 = model(view1, view2)
        else:
            encodings.encode([v for pair in batch for v in pair], device)
            res1, res2 = model.forward_encoded(view1, view2, encodings.pair_encoding(batch, view1, view2))
        outputs = [_output(res1, "pts3d", 1), _output(res1, "conf", 1),
                   _output(res2, "pts3d_in_other_view", 2), _output(res2, "conf", 2)]
        outputs = [t.detach().to("cpu", torch.float32) for t in outputs]
    del res1, res2
    # Cloned outside inference mode: plain tensors the alignment can use in autograd, each owning its
    # storage so that one prediction never keeps a whole batch alive.
    pts1, conf1, pts2, conf2 = outputs
    predictions = []
    for b, (v1, v2) in enumerate(batch):
        shape1, shape2 = (v1.height, v1.width), (v2.height, v2.width)
        _check_shape(pts1[b], conf1[b], shape1, "view 1", v1.name)
        _check_shape(pts2[b], conf2[b], shape2, "view 2", v2.name)
        predictions.append(PairPrediction(
            i=v1.idx, j=v2.idx, pts_i=pts1[b].clone(), conf_i=conf1[b].clone(),
            pts_j=pts2[b].clone(), conf_j=conf2[b].clone(),
        ))
    return predictions


def _output(res: dict, key: str, which: int) -> torch.Tensor:
    if not isinstance(res, dict) or key not in res:
        keys = sorted(res) if isinstance(res, dict) else type(res).__name__
        raise ValueError(f"the pair model's output {which} lacks {key!r} (has {keys})")
    return res[key]


def _check_shape(pts: torch.Tensor, conf: torch.Tensor, shape: tuple[int, int], what: str, name: str) -> None:
    if tuple(pts.shape) != (*shape, 3) or tuple(conf.shape) != shape:
        raise ValueError(
            f"the pair model returned pts3d {tuple(pts.shape)} and conf {tuple(conf.shape)} for {what} "
            f"({name}), expected {(*shape, 3)} and {shape}"
        )
