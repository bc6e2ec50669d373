"""Dataset mixing: `N @ ds`, `k * ds`, `a + b` semantics, spec parsing, and rejection of code."""

from __future__ import annotations

import re

import pytest

from recon3r.data import DATASETS, ColorJitter, DatasetError, MixableDataset, Procedural, parse_dataset
from recon3r.data.mixing import ConcatDataset
from recon3r.errors import ConfigError


class Numbers(MixableDataset):
    """A dataset whose item i is (name, i, resolution index)."""

    def __init__(self, name: str, size: int, resolutions=((8, 8),)):
        self.name, self.size, self.resolutions, self.epoch = name, size, list(resolutions), 0

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        idx, res = index if isinstance(index, tuple) else (index, 0)
        if not 0 <= idx < self.size:
            raise IndexError(idx)
        return self.name, idx, res


def test_resize_gives_n_items_covering_the_dataset_evenly():
    ds = 10 @ Numbers("a", 4)
    assert len(ds) == 10
    items = [ds[i][1] for i in range(10)]
    counts = [items.count(i) for i in range(4)]
    assert sorted(counts) == [2, 2, 3, 3]  # tiled permutations: every item before any repeats
    smaller = 3 @ Numbers("a", 100)
    assert len({smaller[i][1] for i in range(3)}) == 3


def test_resize_draws_a_new_subset_each_epoch_deterministically():
    ds = 5 @ Numbers("a", 50)
    first = [ds[i][1] for i in range(5)]
    assert first == [ds[i][1] for i in range(5)]
    ds.set_epoch(1)
    second = [ds[i][1] for i in range(5)]
    assert first != second
    ds.set_epoch(0)
    assert first == [ds[i][1] for i in range(5)]


def test_repeat_multiplies_the_length_and_keeps_order():
    ds = 3 * Numbers("a", 4)
    assert len(ds) == 12
    assert [ds[i][1] for i in range(12)] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_add_concatenates_and_flattens():
    ds = Numbers("a", 2) + Numbers("b", 3) + 2 * Numbers("c", 1)
    assert isinstance(ds, ConcatDataset) and len(ds.datasets) == 3
    assert [ds[i][:2] for i in range(len(ds))] == [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("b", 2), ("c", 0),
                                                   ("c", 0)]
    with pytest.raises(IndexError):
        ds[7]


def test_resolution_index_passes_through_composites():
    ds = 4 @ (Numbers("a", 3, [(8, 8), (8, 6)]) + 2 * Numbers("b", 1, [(8, 8), (8, 6)]))
    assert ds[2, 1][2] == 1 and ds.resolutions == [(8, 8), (8, 6)]


def test_adding_datasets_with_different_resolutions_fails():
    with pytest.raises(TypeError, match="different resolution lists"):
        Numbers("a", 1, [(8, 8)]) + Numbers("b", 1, [(8, 6)])


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "3"])
def test_operators_need_positive_integers(bad):
    with pytest.raises(TypeError, match="positive integer"):
        bad @ Numbers("a", 2)
    with pytest.raises(TypeError):
        bad * Numbers("a", 2)


TINY = "Procedural(scenes=2, views=2, size=32, resolution=32, num_views=1{extra})"


def test_spec_strings_build_the_mix_with_the_documented_lengths():
    base = parse_dataset(TINY.format(extra=""))
    assert len(base) == 4  # 2 scenes × 2 views, one view per item
    mix = parse_dataset(f"7 @ {TINY.format(extra='')} + 3 * {TINY.format(extra=', kind=' + repr('orbit'))}")
    assert len(mix) == 7 + 3 * 4
    jitter = parse_dataset(TINY.format(extra=", transform=ColorJitter(0.2, 0.2, 0.2, 0.05), aug_crop=4"))
    assert isinstance(jitter.transform, ColorJitter) and jitter.transform.hue == 0.05
    assert isinstance(parse_dataset(TINY.format(extra=", transform=ColorJitter")).transform, ColorJitter)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("__import__('os')", "unknown name '__import__'"),
        ("__import__('os').system('echo hi')", "only whitelisted names may be called"),
        ("Procedural.__init__", "attribute access is not allowed"),
        ("Procedural(scenes=1).__class__", "attribute access is not allowed"),
        ("Unknown(ROOT='x')", "unknown name 'Unknown'"),
        ("open('/etc/passwd')", "unknown name 'open'"),
        ("[x for x in (1, 2)]", "not allowed"),
        ("2.5 @ " + TINY.format(extra=""), "positive integer"),
        ("3", "does not describe a dataset"),
    ],
)
def test_specs_with_code_or_unknown_names_are_rejected_with_a_clear_error(spec, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_dataset(spec)


def test_spec_error_points_at_the_offending_token():
    with pytest.raises(ConfigError) as err:
        parse_dataset("10 @ Procedural(scenes=1) + Nope(1)")
    lines = str(err.value).splitlines()
    caret = lines[-1]
    assert lines[-2].strip().startswith("10 @") and caret.strip() == "^" * len("Nope")
    assert caret.index("^") == lines[-2].index("Nope")


def test_a_dataset_folder_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "absent"))):
        parse_dataset(f"100 @ Procedural(ROOT={str(tmp_path / 'absent')!r})")
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "co3d"))):
        parse_dataset(f"Co3d(split='train', ROOT={str(tmp_path / 'co3d')!r}, resolution=224)")


def test_whitelist_holds_the_loaders_and_transforms():
    assert {"Procedural", "MultiView", "Co3d", "MegaScenes", "RenderedObjects", "DepthSamples", "ColorJitter",
            "ImgNorm"} == set(DATASETS)
    assert DATASETS["Procedural"] is Procedural
