"""The pair graph that global alignment works on: validated pair predictions and their images.

Each ordered pair (i, j) carries two point maps in camera i's frame, `pts_i` (image i's pixels)
and `pts_j` (image j's pixels), and their confidences. This module checks the predictions once,
at the boundary, and derives what both alignment modes need: per-image shapes, per-image
confidence (the maximum over the pairs that predict it) and edge scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from recon3r.errors import Recon3rError
from recon3r.inference import PairPrediction

#: Confidence transforms for the loss weights, by name (the reference's `get_conf_trf`).
CONF_TRANSFORMS = {
    "log": torch.log,
    "sqrt": torch.sqrt,
    "m1": lambda conf: conf - 1,
    "id": lambda conf: conf,
}


def confidence_weights(conf: Tensor, mode: str = "log") -> Tensor:
    """Map raw confidences (≥ 1 for DUSt3R-style heads) to non-negative loss weights.

    `log`: log(c); `sqrt`: √c; `m1`: c − 1; `id`: c.
    """
    try:
        transform = CONF_TRANSFORMS[mode]
    except KeyError:
        raise Recon3rError(
            f"unknown confidence transform {mode!r}; expected one of {sorted(CONF_TRANSFORMS)}"
        ) from None
    return transform(conf)


@dataclass
class PairGraph:
    """Validated pair predictions on a device, with per-edge tensors in edge order.

    N images, E ordered edges (i, j); `pts_i[e]` is (H_i, W_i, 3) and `pts_j[e]` is
    (H_j, W_j, 3), both in camera i's frame; confidences are the raw network values.
    """

    shapes: list[tuple[int, int]]  # (H, W) per image
    edges: list[tuple[int, int]]
    pts_i: list[Tensor]
    pts_j: list[Tensor]
    conf_i: list[Tensor]
    conf_j: list[Tensor]

    @property
    def num_images(self) -> int:
        return len(self.shapes)

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    @property
    def device(self) -> torch.device:
        return self.pts_i[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.pts_i[0].dtype

    def edge_index(self) -> dict[tuple[int, int], int]:
        return {edge: e for e, edge in enumerate(self.edges)}

    def edge_scores(self) -> list[float]:
        """Per edge, mean(conf_i)·mean(conf_j): how much the pair model trusts the pair."""
        return [float(ci.mean() * cj.mean()) for ci, cj in zip(self.conf_i, self.conf_j)]

    def image_confidence(self) -> list[Tensor]:
        """(H_k, W_k) per image: the maximum raw confidence over every pair that predicts image k."""
        out: list[Tensor | None] = [None] * self.num_images
        for (i, j), ci, cj in zip(self.edges, self.conf_i, self.conf_j):
            for k, conf in ((i, ci), (j, cj)):
                out[k] = conf.clone() if out[k] is None else torch.maximum(out[k], conf)
        return out  # type: ignore[return-value]  # every image is covered (checked at construction)


def build_pair_graph(
    predictions: Sequence[PairPrediction],
    shapes: Sequence[tuple[int, int]],
    *,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> PairGraph:
    """Check `predictions` against the N image `shapes` (H, W) and move them to `device`.

    Raises `Recon3rError` for fewer than two images, an index out of range, a self-pair, a
    repeated pair, a point map whose size differs from its image, non-finite values, a degenerate
    point map (coordinates beyond ±1e8, or every point in one place), an image no pair predicts,
    and a graph that is not connected.
    """
    num_images = len(shapes)
    if num_images < 2:
        raise Recon3rError(f"global alignment needs two or more images, got {num_images}")
    if len(predictions) == 0:
        raise Recon3rError("global alignment needs at least one pair prediction, got none")
    seen: set[tuple[int, int]] = set()
    graph = PairGraph(
        shapes=[(int(h), int(w)) for h, w in shapes], edges=[], pts_i=[], pts_j=[], conf_i=[], conf_j=[]
    )
    for n, pred in enumerate(predictions):
        i, j = int(pred.i), int(pred.j)
        where = f"pair prediction #{n} ({i}, {j})"
        if not (0 <= i < num_images and 0 <= j < num_images):
            raise Recon3rError(
                f"{where}: image index out of range; there are {num_images} images (0..{num_images - 1})"
            )
        if i == j:
            raise Recon3rError(f"{where}: a pair must join two different images")
        if (i, j) in seen:
            raise Recon3rError(f"{where}: the ordered pair appears more than once")
        seen.add((i, j))
        for name, tensor, k, channels in (
            ("pts_i", pred.pts_i, i, 3),
            ("pts_j", pred.pts_j, j, 3),
            ("conf_i", pred.conf_i, i, 0),
            ("conf_j", pred.conf_j, j, 0),
        ):
            expected = (*graph.shapes[k], channels) if channels else graph.shapes[k]
            if not isinstance(tensor, Tensor) or tuple(tensor.shape) != tuple(expected):
                got = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
                raise Recon3rError(f"{where}: {name} must be {tuple(expected)} to match image {k}, got {got}")
            if not torch.isfinite(tensor).all():
                raise Recon3rError(f"{where}: {name} contains NaN or infinite values (degenerate predictions; check the weights)")
            if not channels and (tensor <= 0).any():
                raise Recon3rError(f"{where}: {name} must be positive (DUSt3R-style confidences are >= 1)")
        target_dtype = dtype or (pred.pts_i.dtype if pred.pts_i.is_floating_point() else torch.float32)
        target = dict(device=device or pred.pts_i.device, dtype=target_dtype)
        graph.edges.append((i, j))
        graph.pts_i.append(pred.pts_i.to(**target))
        graph.pts_j.append(pred.pts_j.to(**target))
        graph.conf_i.append(pred.conf_i.to(**target))
        graph.conf_j.append(pred.conf_j.to(**target))
    _check_connected(graph)
    for n, (edge, pts_i, pts_j) in enumerate(zip(graph.edges, graph.pts_i, graph.pts_j)):
        for name, points in (("pts_i", pts_i), ("pts_j", pts_j)):
            _check_point_map(points, f"pair prediction #{n} {edge}: {name}")
    return graph


#: Point coordinates a pair model may predict: beyond these the float32 alignment loses every digit.
MAX_COORDINATE = 1e8
MIN_SPREAD = 1e-8


def _check_point_map(points: Tensor, where: str) -> None:
    """Refuse a degenerate point map: coordinates beyond ±1e8, or every point in one place (spread < 1e-8
    or below float precision: constant, all-zero or near-zero maps). Such maps come from broken weights."""
    flat = points.reshape(-1, 3).double()
    largest = float(flat.abs().max())
    if largest > MAX_COORDINATE:
        raise Recon3rError(f"{where}: the model predicted points {largest:.3g} from the camera (more than "
                           f"{MAX_COORDINATE:.0e}): degenerate predictions; check --weights")
    spread = float((flat - flat.mean(0)).norm(dim=-1).max())
    if not spread > max(MIN_SPREAD, 1e-6 * largest):
        raise Recon3rError(f"{where}: the model put every point in one place (spread {spread:.3g}, coordinates up to "
                           f"{largest:.3g}): degenerate predictions; check --weights")


class UnionFind:
    """Disjoint sets of the images 0..n-1 (path halving): `find(k)` its set's root, `union(a, b)` merges."""

    def __init__(self, count: int):
        self.parent = list(range(count))

    def find(self, k: int) -> int:
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return k

    def union(self, a: int, b: int) -> bool:
        """Merge the sets of `a` and `b`; False when they were already one set."""
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return False
        self.parent[root_a] = root_b
        return True


def connected_components(num_images: int, edges: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Connected components of the undirected graph of `edges`, each a sorted list of images."""
    sets = UnionFind(num_images)
    for i, j in edges:
        sets.union(i, j)
    groups: dict[int, list[int]] = {}
    for k in range(num_images):
        groups.setdefault(sets.find(k), []).append(k)
    return sorted(groups.values())


def _check_connected(graph: PairGraph) -> None:
    components = connected_components(graph.num_images, graph.edges)
    if len(components) > 1:
        listed = "; ".join(str(c) for c in components)
        raise Recon3rError(
            f"the pair graph is not connected: images fall into {len(components)} groups ({listed}) that no pair "
            "links; add pairs between the groups (e.g. a denser --graph) or reconstruct them separately"
        )
