"""Cooperative cancellation: reconstruct, pair inference and alignment stop at their next check."""

import threading

import pytest
import torch

from recon3r.align.optimizer import run_optimization
from recon3r.errors import Cancelled, Recon3rError
from recon3r.utils.cancel import raise_if_cancelled


class CancelAfter:
    """A cancel callable that turns True on its `calls`-th call (and counts the calls)."""

    def __init__(self, calls: int) -> None:
        self.calls, self.limit = 0, calls

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.limit


class Quadratic(torch.nn.Module):
    """A loss with one parameter that counts its evaluations."""

    def __init__(self) -> None:
        super().__init__()
        self.x = torch.nn.Parameter(torch.ones(3))
        self.evaluations = 0

    def forward(self) -> torch.Tensor:
        self.evaluations += 1
        return (self.x**2).sum()


def test_no_cancel_and_an_unset_event_let_the_work_go_on():
    raise_if_cancelled(None, "anything")
    raise_if_cancelled(threading.Event().is_set, "anything")
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled, match="cancelled at the export"):
        raise_if_cancelled(event.is_set, "the export")


def test_cancelled_is_not_a_bad_input_error():
    assert not issubclass(Cancelled, (Recon3rError, ValueError))


def test_alignment_stops_at_the_step_where_cancel_turns_true():
    model = Quadratic()
    with pytest.raises(Cancelled, match="alignment step 4 of 50"):
        run_optimization(model, niter=50, progress=False, cancel=CancelAfter(4))
    assert model.evaluations == 3
    assert len(run_optimization(Quadratic(), niter=5, progress=False, cancel=lambda: False)) == 5


def test_pair_inference_stops_at_the_next_batch(tiny_weights, photo_paths):
    from recon3r import load_model
    from recon3r.inference import run_pairs
    from recon3r.io import load_images
    from recon3r.pairs import make_pairs

    model = load_model(tiny_weights, device="cpu")
    pairs = make_pairs(load_images([str(p) for p in photo_paths], size=224, show_progress=False), graph="complete",
                       symmetrize=True)
    calls = []
    # One head call per batch of pairs (run_pairs calls forward_encoded, not forward).
    hook = model.downstream_head1.register_forward_hook(lambda *args: calls.append(1))
    try:
        with pytest.raises(Cancelled, match="pair inference batch 2 of 3"):
            run_pairs(model, pairs, batch_size=2, progress=False, cancel=CancelAfter(2))
    finally:
        hook.remove()
    assert len(pairs) == 6 and len(calls) == 1


@pytest.mark.parametrize(("calls", "stage"), [(1, "pair inference batch 1"), (3, "alignment step 1 of 20"),
                                              (23, "export")])
def test_reconstruct_stops_between_stages_and_writes_nothing(tiny_weights, photo_paths, tmp_path, calls, stage):
    from recon3r import load_model
    from recon3r.reconstruct import ReconstructConfig, reconstruct

    model = load_model(tiny_weights, device="cpu")
    config = ReconstructConfig(images=[str(p) for p in photo_paths], out=str(tmp_path / "out"), niter=20,
                               batch_size=8, device="cpu", progress=False, exif=False)
    # Checks: 1 inference batch (6 pairs), the stage boundary before alignment, 20 steps, export.
    with pytest.raises(Cancelled, match=stage):
        reconstruct(config, model=model, cancel=CancelAfter(calls))
    assert not (tmp_path / "out").exists()
