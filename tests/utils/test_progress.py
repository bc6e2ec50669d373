"""The plain progress fallback (no tqdm) shows the count and, with a unit, the rate."""

from recon3r.utils.progress import _plain_progress


def test_plain_progress_reports_the_rate_in_units_per_second(capsys):
    assert list(_plain_progress(range(3), "streaming", 3, unit="frame")) == [0, 1, 2]
    err = capsys.readouterr().err
    assert "streaming: 3/3" in err and "frame/s" in err
    assert list(_plain_progress(range(2), "loading", None)) == [0, 1]
    assert "/s" not in capsys.readouterr().err
