"""The minimum confidence: a fixed value wins; `auto` adapts to the model's confidence scale."""

from __future__ import annotations

import numpy as np
import pytest

from recon3r.align.confidence import (
    REFERENCE_MIN_CONF,
    low_confidence_warning,
    parse_min_conf,
    resolve_min_conf,
)
from recon3r.errors import ConfigError


def test_auto_keeps_the_reference_threshold_for_a_confident_model():
    confident = 1 + np.random.default_rng(0).exponential(20.0, size=10_000)  # median ≈ 15
    assert resolve_min_conf("auto", confident) == REFERENCE_MIN_CONF


def test_auto_keeps_about_half_when_every_confidence_is_below_the_reference():
    compressed = np.random.default_rng(0).uniform(1.0, 1.9, size=10_000)  # what the shipped model predicts
    threshold = resolve_min_conf("auto", compressed)
    assert threshold < 1.9
    assert (compressed >= threshold).mean() == pytest.approx(0.5, abs=0.01)
    assert low_confidence_warning(compressed, threshold) is None


def test_an_explicit_value_wins():
    assert resolve_min_conf(3.0, np.ones(10)) == 3.0
    assert resolve_min_conf("1.5", np.ones(10)) == 1.5


@pytest.mark.parametrize("bad", ["abc", "nan", "inf", float("nan"), True, None])
def test_bad_values_are_named(bad):
    with pytest.raises(ConfigError, match="--min-conf must be"):
        parse_min_conf(bad)


def test_fewer_than_one_percent_kept_names_the_confidences_and_suggests_a_value():
    confidences = np.linspace(1.0, 1.9, 1000)
    message = low_confidence_warning(confidences, 3.0)
    assert "keeps 0 of 1,000 points" in message and "range 1–1.9" in message and "median 1.45" in message
    suggested = float(message.rsplit("--min-conf ", 1)[1])
    assert low_confidence_warning(confidences, suggested) is None and suggested <= 1.45
    assert low_confidence_warning(confidences, 1.0) is None
