"""Pair graphs: edge counts, edge sets and order, against independent formulations."""

from __future__ import annotations

import itertools

import pytest

from recon3r.errors import ConfigError
from recon3r.pairs import make_pairs, pair_indices, parse_graph


def _unordered(edges):
    return {frozenset(e) for e in edges}


def _cyclic_distance(i, j, n):
    d = abs(i - j)
    return min(d, n - d)


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_complete_graph_has_every_pair_in_reference_order(n):
    edges = pair_indices(n, "complete", symmetrize=False)
    assert len(edges) == n * (n - 1) // 2
    assert _unordered(edges) == {frozenset(c) for c in itertools.combinations(range(n), 2)}
    assert edges[:3] == [(1, 0), (2, 0), (2, 1)][: len(edges)]
    sym = pair_indices(n, "complete")
    assert len(sym) == n * (n - 1)
    assert sym[len(edges):] == [(j, i) for i, j in edges]


@pytest.mark.parametrize(("n", "k"), [(8, 1), (8, 2), (8, 3), (5, 2), (5, 4), (4, 7)])
def test_swin_connects_each_image_to_its_next_k_with_wraparound(n, k):
    edges = pair_indices(n, f"swin-{k}", symmetrize=False)
    expected = {frozenset((i, j)) for i, j in itertools.combinations(range(n), 2) if _cyclic_distance(i, j, n) <= k}
    assert _unordered(edges) == expected
    assert len(edges) == len(expected)  # no duplicates
    assert all(i < j for i, j in edges) and all(i != j for i, j in edges)
    if 2 * k < n:
        assert len(edges) == n * k


@pytest.mark.parametrize(("n", "k"), [(8, 1), (8, 3), (5, 4), (4, 7)])
def test_swin_noncyclic_has_no_loop_closure(n, k):
    edges = pair_indices(n, f"swin-{k}-noncyclic", symmetrize=False)
    expected = {frozenset((i, j)) for i, j in itertools.combinations(range(n), 2) if j - i <= k}
    assert _unordered(edges) == expected
    assert len(edges) == sum(min(k, n - 1 - i) for i in range(n))


def test_swin_without_window_defaults_to_three():
    assert pair_indices(10, "swin") == pair_indices(10, "swin-3")


@pytest.mark.parametrize(("n", "k"), [(10, 1), (10, 3), (16, 4), (5, 3)])
@pytest.mark.parametrize("cyclic", [True, False])
def test_logwin_uses_power_of_two_offsets(n, k, cyclic):
    graph = f"logwin-{k}" + ("" if cyclic else "-noncyclic")
    edges = pair_indices(n, graph, symmetrize=False)
    offsets = {2**p for p in range(k)}
    if cyclic:
        expected = {frozenset((i, j)) for i, j in itertools.combinations(range(n), 2)
                    if (j - i) % n in offsets or (i - j) % n in offsets}
    else:
        expected = {frozenset((i, j)) for i, j in itertools.combinations(range(n), 2) if j - i in offsets}
    assert _unordered(edges) == expected
    assert len(edges) == len(expected)


def test_logwin_edge_count_on_a_long_sequence():
    # 20 images, offsets 1, 2, 4: each image pairs with 3 later ones (wrapping) -> 60 edges.
    assert len(pair_indices(20, "logwin-3", symmetrize=False)) == 60
    assert len(pair_indices(20, "logwin-3-noncyclic", symmetrize=False)) == 19 + 18 + 16


@pytest.mark.parametrize("ref", [0, 2, 4])
def test_oneref_pairs_the_reference_with_every_other_image(ref):
    edges = pair_indices(5, f"oneref-{ref}", symmetrize=False)
    assert edges == [(ref, j) for j in range(5) if j != ref]
    assert pair_indices(5, "oneref", symmetrize=False) == [(0, j) for j in range(1, 5)]
    sym = pair_indices(5, f"oneref-{ref}")
    assert sym[4:] == [(j, ref) for j in range(5) if j != ref]


def test_make_pairs_returns_the_objects():
    views = ["a", "b", "c", "d"]
    pairs = make_pairs(views, "swin-1-noncyclic")
    assert pairs == [("a", "b"), ("b", "c"), ("c", "d"), ("b", "a"), ("c", "b"), ("d", "c")]
    assert make_pairs(views, "complete", symmetrize=False) == [
        ("b", "a"), ("c", "a"), ("c", "b"), ("d", "a"), ("d", "b"), ("d", "c")
    ]


def test_prefilter_keeps_pairs_close_in_the_sequence():
    edges = pair_indices(8, "complete", prefilter="seq2")
    assert edges and all(abs(i - j) <= 2 for i, j in edges)
    assert len(edges) == 2 * (7 + 6)
    cyc = pair_indices(8, "complete", prefilter="cyc2")
    assert {frozenset(e) for e in cyc} == {frozenset((i, j)) for i, j in itertools.combinations(range(8), 2)
                                          if _cyclic_distance(i, j, 8) <= 2}
    assert (7, 0) in cyc and (7, 0) not in edges


@pytest.mark.parametrize("bad", ["", "full", "swin-", "swin-0", "swin-x", "logwin-3-cyclic", "complete-3",
                                 "oneref-1-noncyclic", "SWIN-3", "swin-3 "])
def test_unknown_graph_raises_config_error_naming_it(bad):
    with pytest.raises(ConfigError) as info:
        make_pairs(["a", "b", "c"], bad)
    assert repr(bad) in str(info.value)


def test_oneref_out_of_range_and_bad_prefilter_raise():
    with pytest.raises(ConfigError, match="'oneref-5'"):
        pair_indices(3, "oneref-5")
    with pytest.raises(ConfigError, match="'seq'"):
        pair_indices(3, "complete", prefilter="seq")


def test_parse_graph():
    assert parse_graph("swin-5-noncyclic") == ("swin", 5, False)
    assert parse_graph("logwin-2") == ("logwin", 2, True)
    assert parse_graph("oneref-3") == ("oneref", 3, True)


def test_small_image_counts():
    assert pair_indices(1, "complete") == []
    assert pair_indices(2, "swin-3") == [(0, 1), (1, 0)]
    assert pair_indices(2, "logwin-3") == [(0, 1), (1, 0)]
