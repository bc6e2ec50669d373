import pytest
import torch

from recon3r.align.graph import build_pair_graph, confidence_weights, connected_components
from recon3r.align.synthetic import oracle_predictions
from recon3r.errors import Recon3rError
from recon3r.inference import PairPrediction


def _ramp(shape, value):
    """A non-degenerate point map: `value` plus a small ramp (constant maps are refused)."""
    return value + 0.01 * torch.arange(shape[0] * shape[1] * 3, dtype=torch.float32).reshape(*shape, 3)


def _pair(i, j, shape_i=(4, 6), shape_j=(4, 6), value=1.0):
    return PairPrediction(
        i=i,
        j=j,
        pts_i=_ramp(shape_i, value),
        conf_i=torch.full(shape_i, 2.0),
        pts_j=_ramp(shape_j, value),
        conf_j=torch.full(shape_j, 3.0),
    )


@pytest.mark.parametrize("mode", ["log", "sqrt", "m1", "id"])
def test_confidence_transforms_match_reference(golden_more, mode):
    out = confidence_weights(golden_more["get_conf_trf__in"], mode)
    torch.testing.assert_close(out, golden_more[f"get_conf_trf__{mode}"], rtol=1e-6, atol=1e-6)


def test_unknown_confidence_transform_is_named():
    with pytest.raises(Recon3rError, match="'cube'"):
        confidence_weights(torch.ones(3), "cube")


def test_image_confidence_is_the_maximum_over_pairs(two_views):
    preds = oracle_predictions(two_views, [(0, 1), (1, 0)], seed=3)
    graph = build_pair_graph(preds, [(32, 48)] * 2)
    conf = graph.image_confidence()
    torch.testing.assert_close(conf[0], torch.maximum(preds[0].conf_i, preds[1].conf_j))
    torch.testing.assert_close(conf[1], torch.maximum(preds[0].conf_j, preds[1].conf_i))
    scores = graph.edge_scores()
    assert scores[0] == pytest.approx(float(preds[0].conf_i.mean() * preds[0].conf_j.mean()))


def test_fewer_than_two_images_is_rejected():
    with pytest.raises(Recon3rError, match="two or more images"):
        build_pair_graph([_pair(0, 0)], [(4, 6)])


def test_pair_index_out_of_range_is_named():
    with pytest.raises(Recon3rError, match=r"#1 \(0, 5\).*out of range.*3 images"):
        build_pair_graph([_pair(0, 1), _pair(0, 5)], [(4, 6)] * 3)


def test_self_pair_and_duplicate_pair_are_rejected():
    with pytest.raises(Recon3rError, match="two different images"):
        build_pair_graph([_pair(1, 1)], [(4, 6)] * 2)
    with pytest.raises(Recon3rError, match="more than once"):
        build_pair_graph([_pair(0, 1), _pair(0, 1)], [(4, 6)] * 2)


def test_point_map_of_the_wrong_size_is_named():
    with pytest.raises(Recon3rError, match=r"pts_j must be \(5, 6, 3\) to match image 1, got \(4, 6, 3\)"):
        build_pair_graph([_pair(0, 1)], [(4, 6), (5, 6)])


def test_non_finite_prediction_is_rejected():
    bad = _pair(0, 1)
    bad.pts_i[0, 0, 0] = float("nan")
    with pytest.raises(Recon3rError, match="pts_i contains NaN"):
        build_pair_graph([bad], [(4, 6)] * 2)


def test_non_positive_confidence_is_rejected():
    bad = _pair(0, 1)
    bad.conf_j[1, 2] = 0.0
    with pytest.raises(Recon3rError, match="conf_j must be positive"):
        build_pair_graph([bad], [(4, 6)] * 2)


def test_disconnected_graph_lists_its_groups():
    with pytest.raises(Recon3rError, match=r"not connected.*\[0, 1\]; \[2, 3\]"):
        build_pair_graph([_pair(0, 1), _pair(3, 2)], [(4, 6)] * 4)
    with pytest.raises(Recon3rError, match=r"not connected.*\[2\]"):
        build_pair_graph([_pair(0, 1)], [(4, 6)] * 3)


def test_connected_components_of_a_chain_and_an_island():
    assert connected_components(5, [(0, 1), (2, 1), (4, 3)]) == [[0, 1, 2], [3, 4]]


def test_predictions_move_to_the_requested_dtype():
    graph = build_pair_graph([_pair(0, 1)], [(4, 6)] * 2, dtype=torch.float64)
    assert graph.dtype == torch.float64 and graph.conf_j[0].dtype == torch.float64
