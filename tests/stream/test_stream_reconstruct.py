"""reconstruct_stream and `recon3r stream`: frames from folders and videos, exports, memory cap, constant time per frame."""

import json
import statistics

import numpy as np
import pytest
import torch
from PIL import Image

from recon3r.cli import main
from recon3r.errors import ImageLoadError
from recon3r.models import save_model
from recon3r.models.point3r import Point3R
from recon3r.stream import DEFAULT_MAX_POINTERS, export_stream, reconstruct_stream


def _texture(width: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (48 × width), so panning windows overlap like video frames."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (7, width // 8 + 2, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((width + 16, 48), Image.Resampling.BICUBIC))[:, :width]


def write_frames(folder, count, step=2):
    folder.mkdir(parents=True, exist_ok=True)
    texture = _texture(64 + step * count)
    for t in range(count):
        Image.fromarray(texture[:, step * t : step * t + 64]).save(folder / f"frame_{t:04d}.png")
    return folder


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(Point3R(**Point3R.tiny_config).eval(), tmp_path_factory.mktemp("point3r_tiny"))


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    return write_frames(tmp_path_factory.mktemp("stream") / "frames", 6)


def test_stream_of_a_folder_gives_the_models_outputs_frame_by_frame(tiny_weights, frames):
    from recon3r.models import load_model

    model = load_model(tiny_weights)
    result = reconstruct_stream(frames, model, size=64)
    assert result.names == [f"frame_{t:04d}.png" for t in range(6)]
    assert result.points.shape == (6, 48, 64, 3) and result.depths.shape == (6, 48, 64)
    views = [{"img": torch.from_numpy(img * 2 - 1).permute(2, 0, 1)[None].float(), "true_shape": torch.tensor([[48, 64]])}
             for img in result.images]
    with torch.no_grad():
        expected, state = model.stream(views)
    np.testing.assert_allclose(result.points, torch.cat([r["pts3d_in_other_view"] for r in expected]).numpy(), atol=1e-5)
    np.testing.assert_allclose(result.depths, torch.cat([r["pts3d_in_self_view"] for r in expected])[..., 2].numpy(),
                               atol=1e-5)
    pose = expected[3]["camera_pose"][0].double()
    np.testing.assert_allclose(result.world_from_cam[3, :3, 3], pose[:3].numpy(), atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(result.world_from_cam[:, :3, :3]), 1.0, atol=1e-6)
    assert result.pointer_counts.tolist()[-1] == state.memory.counts[0] == len(result.memory_positions)
    assert (np.diff(result.pointer_counts) >= 0).all() and result.pointer_counts[0] == 12
    assert (result.merged[1:] + result.added[1:] == 12).all()
    assert result.intrinsics[0, 0, 2] == 32 and result.intrinsics[0, 1, 2] == 24


def test_cli_writes_cameras_depth_points_and_memory(tiny_weights, frames, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["stream", str(frames), "--weights", str(tiny_weights), "--out", str(out), "--size", "64", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "frames/s" in printed and "cap 8192" in printed
    assert (out / "points.ply").is_file() and (out / "scene.npz").is_file()
    images_txt = (out / "sparse" / "0" / "images.txt").read_text().splitlines()
    assert sum(1 for line in images_txt if line.endswith(".png")) == 6
    assert len(json.loads((out / "transforms.json").read_text())["frames"]) == 6
    assert sorted(p.name for p in (out / "depth").iterdir()) == [f"frame_{t:04d}.npy" for t in range(6)]
    assert np.load(out / "depth" / "frame_0002.npy").shape == (48, 64)
    memory = np.load(out / "memory.npz")
    assert memory["positions"].shape == (memory["pointer_counts"][-1], 3) and memory["features"].shape[1] == 16
    assert int(memory["max_pointers"]) == DEFAULT_MAX_POINTERS
    stream = json.loads((out / "stream.json").read_text())
    assert len(stream["seconds_per_frame"]) == 6 and stream["frames_per_second"] > 0


def test_a_video_file_is_streamed_with_every_and_max_frames(tiny_weights, frames, tmp_path):
    iio = pytest.importorskip("imageio.v3", reason="the video extra (imageio) is not installed")
    pytest.importorskip("imageio_ffmpeg", reason="the video extra (imageio-ffmpeg) is not installed")
    from recon3r.models import load_model

    video = tmp_path / "walk.mp4"
    iio.imwrite(video, np.stack([np.asarray(Image.open(p)) for p in sorted(frames.iterdir())]), fps=5)
    result = reconstruct_stream(video, load_model(tiny_weights), size=64, every=2, max_frames=2, max_pointers=None)
    assert result.names == ["walk_000000", "walk_000002"]
    assert result.points.shape == (2, 48, 64, 3)
    written = export_stream(result, tmp_path / "out", formats=("npz",))
    assert int(np.load(written["memory"])["max_pointers"]) == -1


def test_frames_of_different_sizes_and_bad_inputs_are_refused(tiny_weights, frames, tmp_path, capsys):
    from recon3r.models import load_model

    odd = tmp_path / "odd"
    odd.mkdir()
    Image.open(frames / "frame_0000.png").save(odd / "a.png")
    Image.new("RGB", (48, 64)).save(odd / "b.png")
    with pytest.raises(ImageLoadError, match="b.png resizes to 48x64"):
        reconstruct_stream(odd, load_model(tiny_weights), size=64)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert main(["stream", str(broken), "--weights", str(tiny_weights), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "broken.mp4" in capsys.readouterr().err
    assert main(["stream", str(frames), "--out", str(tmp_path / "o")]) == 2
    assert "point3r_512.pth" in capsys.readouterr().err
    assert main(["stream", str(frames), "--weights", str(tiny_weights), "--out", str(tmp_path / "o"),
                 "--max-pointers", "-1"]) == 2


def test_cli_refuses_weights_of_another_model(frames, tmp_path, capsys):
    from recon3r.models.dust3r import TINY_CONFIGS, AsymmetricCroCo3DStereo

    weights = save_model(AsymmetricCroCo3DStereo(**TINY_CONFIGS["tiny_linear"]), tmp_path / "pair")
    assert main(["stream", str(frames), "--weights", str(weights), "--out", str(tmp_path / "o")]) == 2
    assert "not the Point3R model" in capsys.readouterr().err


def _late_over_early(seconds) -> float:
    return statistics.median(seconds[-50:]) / statistics.median(seconds[10:60])


def test_acceptance_200_frames_take_constant_time_per_frame_and_the_memory_stays_capped(tiny_weights, tmp_path):
    """`recon3r stream` on 200 frames at 64 px: the last 50 frames within 1.5× the time of frames 10-60.

    The 2 cores are shared: a burst of load elsewhere can slow one window of one run, so up to two more
    runs (same frames, same model) may be timed; a cost that grows with the stream fails them all.
    """
    from recon3r.models import load_model

    folder = write_frames(tmp_path / "long", 200, step=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["stream", str(folder), "--weights", str(tiny_weights), "--out", str(tmp_path / "out"),
                     "--size", "64", "--formats", "npz", "--quiet"]) == 0
        stream = json.loads((tmp_path / "out" / "stream.json").read_text())
        ratios = [_late_over_early(stream["seconds_per_frame"])]
        model = load_model(tiny_weights)
        while min(ratios) > 1.5 and len(ratios) < 3:
            ratios.append(_late_over_early(reconstruct_stream(folder, model, size=64).seconds_per_frame))
    finally:
        torch.set_num_threads(threads)
    assert min(ratios) <= 1.5, ratios
    counts = stream["pointer_counts"]
    assert len(counts) == 200 and max(counts) <= stream["max_pointers"] == DEFAULT_MAX_POINTERS
    assert counts[-1] < 200 * 12  # merging keeps the memory below one pointer per patch seen
