"""Pair graphs: which image pairs the pair model sees (the reference DUSt3R scene graphs).

Graphs, over N images indexed by their position in the list:
- `complete`: every unordered pair, N(N-1)/2 edges;
- `swin-K` (K defaults to 3): each image with its next K images, wrapping around (loop closure);
- `swin-K-noncyclic`: the same without wrapping;
- `logwin-K` / `logwin-K-noncyclic`: each image with the images at offsets ±1, ±2, ±4, …, ±2^(K-1);
- `oneref-I` (I defaults to 0): image I with every other image.
With `symmetrize`, each pair (a, b) is followed, after all pairs, by its reverse (b, a).
Pairs of an image with itself never occur (the reference could add them to small cyclic windows).
`prefilter` 'seqD' keeps pairs at most D apart in the list; 'cycD' measures the distance cyclically.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

from recon3r.errors import ConfigError

T = TypeVar("T")

GRAPHS = ("complete", "swin-K", "swin-K-noncyclic", "logwin-K", "logwin-K-noncyclic", "oneref-I")
_GRAPH_RE = re.compile(r"^(complete|swin|logwin|oneref)(?:-(\d+))?(-noncyclic)?$")
_PREFILTER_RE = re.compile(r"^(seq|cyc)(\d+)$")


def make_pairs(
    views: Sequence[T], graph: str = "complete", symmetrize: bool = True, prefilter: str | None = None
) -> list[tuple[T, T]]:
    """Ordered pairs of `views` for the pair graph `graph` (see the module docstring).

    Raises ConfigError naming the value for an unknown graph or prefilter.
    """
    return [(views[i], views[j]) for i, j in pair_indices(len(views), graph, symmetrize, prefilter)]


def pair_indices(
    num_images: int, graph: str = "complete", symmetrize: bool = True, prefilter: str | None = None
) -> list[tuple[int, int]]:
    """The edges of `make_pairs` as (i, j) positions, in the same order."""
    n = num_images
    kind, param, cyclic = parse_graph(graph)
    if kind == "complete":
        edges = [(i, j) for i in range(n) for j in range(i)]  # reference order: (1,0), (2,0), (2,1), ...
    elif kind in ("swin", "logwin"):
        if kind == "swin":
            offsets = list(range(1, param + 1))
        else:
            offsets = [2**k for k in range(param)]
            offsets += [-o for o in offsets]
        unordered = set()
        for i in range(n):
            for off in offsets:
                j = (i + off) % n if cyclic else i + off
                if 0 <= j < n and j != i:
                    unordered.add((min(i, j), max(i, j)))
        edges = sorted(unordered)
    else:  # oneref
        if n and not 0 <= param < n:
            raise ConfigError(f"graph {graph!r}: reference image {param} is out of range for {n} images")
        edges = [(param, j) for j in range(n) if j != param]
    if symmetrize:
        edges = edges + [(j, i) for i, j in edges]
    if prefilter is not None:
        edges = _prefilter(edges, n, prefilter)
    return edges


def parse_graph(graph: str) -> tuple[str, int, bool]:
    """Split a graph string into (kind, parameter, cyclic). Raises ConfigError naming a bad value."""
    match = _GRAPH_RE.match(graph) if isinstance(graph, str) else None
    if match is None:
        raise ConfigError(f"unknown pair graph {graph!r}; expected one of {', '.join(GRAPHS)}")
    kind, number, noncyclic = match.groups()
    if kind == "complete" and (number or noncyclic):
        raise ConfigError(f"unknown pair graph {graph!r}: 'complete' takes no parameter")
    if kind == "oneref" and noncyclic:
        raise ConfigError(f"unknown pair graph {graph!r}: 'oneref-I' has no noncyclic variant")
    default = 0 if kind == "oneref" else 3
    param = int(number) if number is not None else default
    if kind in ("swin", "logwin") and param < 1:
        raise ConfigError(f"pair graph {graph!r}: the window size must be at least 1")
    return kind, param, noncyclic is None


def _prefilter(edges: list[tuple[int, int]], n: int, prefilter: str) -> list[tuple[int, int]]:
    match = _PREFILTER_RE.match(prefilter) if isinstance(prefilter, str) else None
    if match is None:
        raise ConfigError(f"unknown pair prefilter {prefilter!r}; expected 'seqD' or 'cycD' with an integer D")
    cyclic, max_dist = match.group(1) == "cyc", int(match.group(2))

    def dist(i: int, j: int) -> int:
        d = abs(i - j)
        return min(d, n - d) if cyclic else d

    return [(i, j) for i, j in edges if dist(i, j) <= max_dist]
