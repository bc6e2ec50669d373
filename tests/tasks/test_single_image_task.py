"""The single-image task: OpenLRM-style batches (cameras, crops, backgrounds), its loss and metrics, AMP,
--pretrained from OpenLRM folders, --freeze_encoder, and training through the shared trainer."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from recon3r.data.procedural.objects import write_rendered_objects
from recon3r.data.registry import parse_dataset
from recon3r.errors import ConfigError
from recon3r.models.lrm import ModelLRM
from recon3r.tasks import task_for
from recon3r.tasks.base import to_float
from recon3r.tasks.single_image import NovelViewLoss, SingleImageTask, mask_iou, psnr
from recon3r.train.config import TrainConfig
from recon3r.train.trainer import Trainer, build_criterion, train

MODEL = "ModelLRM(" + ", ".join(f"{k}={v!r}" for k, v in ModelLRM.tiny_config.items()) + ")"


@pytest.fixture(scope="module")
def objects_root(tmp_path_factory):
    return write_rendered_objects(tmp_path_factory.mktemp("objects") / "objs", 3, 4, size=32, seed=0, test_objects=1)


def dataset_spec(root, split="train", views=3):
    return f"RenderedObjects(ROOT='{root}', split='{split}', num_views={views}, resolution=32)"


def tiny_task(**kwargs) -> SingleImageTask:
    task = SingleImageTask(**kwargs)
    task.configure(ModelLRM(**ModelLRM.tiny_config))
    return task


def config(root, out, **overrides) -> TrainConfig:
    values = dict(model=MODEL, train_dataset=dataset_spec(root), batch_size=2, epochs=1, lr=1e-3, device="cpu",
                  output_dir=str(out), log_freq=1)
    return TrainConfig(**{**values, **overrides})


def project(render_camera: torch.Tensor, points: torch.Tensor, side: int) -> torch.Tensor:
    """Pixel (col, row) of world points (P, 3) in an S × S render of an OpenLRM camera vector (25,)."""
    world_from_cam = render_camera[:16].reshape(4, 4).double() * torch.tensor([1.0, -1.0, -1.0, 1.0],
                                                                               dtype=torch.float64)  # OpenGL → OpenCV
    K = render_camera[16:].reshape(3, 3).double()
    local = (points - world_from_cam[:3, 3]) @ world_from_cam[:3, :3]
    uv = (local @ K.T)[:, :2] / local[:, 2:]
    return uv * side - 0.5


# --------------------------------------------------------------------------------------------- batches
def test_model_class_picks_the_single_image_task():
    assert isinstance(task_for(ModelLRM), SingleImageTask)
    task = tiny_task()
    assert (task.source_size, task.render_region, task.render_low, task.render_high) == (28, 28, 28, 28)


def test_cameras_are_normalised_to_the_canonical_source_and_stay_consistent_with_the_pixels(objects_root):
    dataset = parse_dataset(dataset_spec(objects_root))
    sample = dataset[0]
    task = tiny_task(render_region=32, render_low=32, render_high=32)  # full renders: anchors (0, 0)
    batch = task.collate([sample])
    source = batch["source_camera"][0].double()
    distance = float(np.linalg.norm(sample[0]["camera_pose"][:3, 3]))
    # OpenLRM's canonical source: at (0, -d, 0) looking along +y, z up (OpenGL axes), d kept ('auto').
    canonical = torch.tensor([[1.0, 0, 0, 0], [0, 0, -1, -distance], [0, 1, 0, 0]], dtype=torch.float64)
    torch.testing.assert_close(source[:12].reshape(3, 4), canonical, atol=1e-6, rtol=0)
    assert batch["render_cameras"].shape == (1, 3, 25) and batch["novel"].tolist() == [[False, True, True]]
    torch.testing.assert_close(batch["render_cameras"][0, 0, :12], batch["source_camera"][0, :12])
    assert torch.equal(batch["render_anchors"], torch.zeros(1, 3, 2))
    # Every object pixel's 3D point, moved into the normalised world, projects back onto that pixel.
    original_source = torch.as_tensor(sample[0]["camera_pose"], dtype=torch.float64)
    normalized_source = torch.eye(4, dtype=torch.float64)
    normalized_source[:3] = source[:12].reshape(3, 4) * torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64)
    motion = normalized_source @ torch.linalg.inv(original_source)
    for v, view in enumerate(sample):
        rows, cols = np.nonzero(view["valid_mask"] & view["object_mask"])
        assert len(rows) > 20
        points = torch.as_tensor(view["pts3d"][rows, cols], dtype=torch.float64) @ motion[:3, :3].T + motion[:3, 3]
        pixels = project(batch["render_cameras"][0, v], points, side=32)
        expected = torch.as_tensor(np.stack([cols, rows], axis=1), dtype=torch.float64)
        torch.testing.assert_close(pixels, expected, atol=2e-3, rtol=0)


def test_targets_are_crops_on_random_greys_and_the_source_is_on_white(objects_root):
    dataset = parse_dataset(dataset_spec(objects_root))
    task = tiny_task(render_region=8, render_low=16, render_high=24)
    samples = [dataset[i] for i in range(4)]
    batch = task.collate(samples)
    assert batch["image"].shape == (4, 3, 28, 28) and batch["target_rgb"].shape == (4, 3, 3, 8, 8)
    assert batch["target_mask"].shape == (4, 3, 1, 8, 8) and batch["render_region_size"] == 8
    sides = batch["render_resolutions"][..., 0]
    assert ((sides >= 16) & (sides <= 24)).all() and (sides == sides[:, :1]).all()  # one side per item
    anchors = batch["render_anchors"]
    assert (anchors >= 0).all() and (anchors <= sides[..., None] - 8).all() and anchors.max() > 0
    greys = batch["render_bg_colors"][..., 0]
    assert set(greys.flatten().tolist()) <= {0.0, 0.5, 1.0} and len(set(greys.flatten().tolist())) > 1
    # At the stored size (no resampling), the background is exactly the drawn grey.
    batch = tiny_task(render_region=8, render_low=32, render_high=32).collate(samples)
    greys = batch["render_bg_colors"][..., 0]
    background = batch["target_mask"] == 0
    assert background.any()
    target_on_background = batch["target_rgb"].masked_select(background)
    grey_on_background = greys[..., None, None, None].expand_as(batch["target_rgb"]).masked_select(background)
    torch.testing.assert_close(target_on_background, grey_on_background, atol=1e-6, rtol=0)
    # The source image: the object on white, RGB in [0, 1].
    assert batch["image"].min() >= 0 and batch["image"].max() <= 1
    assert torch.equal(batch["image"][:, :, 0, 0], torch.ones(4, 3))


def test_batches_are_a_function_of_the_item_and_change_with_the_epoch(objects_root):
    dataset = parse_dataset(dataset_spec(objects_root))
    task = tiny_task(render_region=8, render_low=16, render_high=24)
    first, again = task.collate([dataset[0], dataset[1]]), task.collate([dataset[0], dataset[1]])
    for key in first:
        assert torch.equal(torch.as_tensor(first[key]), torch.as_tensor(again[key])), key
    dataset.set_epoch(1)
    later = task.collate([dataset[0], dataset[1]])
    assert not torch.equal(first["render_anchors"], later["render_anchors"])


def test_without_source_supervision_only_novel_views_are_rendered(objects_root):
    dataset = parse_dataset(dataset_spec(objects_root))
    batch = tiny_task(supervise_source=False).collate([dataset[0]])
    assert batch["render_cameras"].shape == (1, 2, 25) and batch["novel"].all()


def test_samples_without_object_masks_or_with_one_view_are_refused(objects_root):
    task = tiny_task()
    one_view = parse_dataset(dataset_spec(objects_root, views=1))[0]
    with pytest.raises(ConfigError, match="at least 2"):
        task.check_sample(one_view, "objects")
    sample = parse_dataset(dataset_spec(objects_root))[0]
    sample[0]["object_mask"] = np.ones_like(sample[0]["object_mask"])
    with pytest.raises(ConfigError, match="object_mask covers the whole image"):
        task.check_sample(sample, "objects")
    with pytest.raises(ConfigError, match="same number of views"):
        task.collate([parse_dataset(dataset_spec(objects_root))[0], parse_dataset(dataset_spec(objects_root, views=2))[0]])


def test_procedural_orbits_serve_the_task():
    sample = parse_dataset("Procedural(scenes=1, views=3, num_views=3, kind='orbit', size=32, resolution=32)")[0]
    task = tiny_task()
    task.check_sample(sample)
    batch = task.collate([sample])
    assert batch["target_rgb"].shape == (1, 3, 3, 28, 28) and 0 < float(batch["target_mask"].mean()) < 1


# ------------------------------------------------------------------------------------- loss, metrics
def test_loss_is_zero_for_a_perfect_render_and_weights_each_term():
    batch = {"target_rgb": torch.rand(2, 3, 3, 4, 4), "target_mask": torch.rand(2, 3, 1, 4, 4)}
    perfect = {"images_rgb": batch["target_rgb"].clone(), "images_weight": batch["target_mask"].clone(),
               "planes": torch.ones(2, 3, 4, 6, 6)}
    loss, details = NovelViewLoss()(batch, perfect)
    assert float(loss) == 0.0 and details == {"rgb_loss": 0.0, "mask_loss": 0.0, "tv_loss": 0.0}
    off = {**perfect, "images_rgb": perfect["images_rgb"] + 0.1, "images_weight": perfect["images_weight"] - 0.2}
    planes = torch.zeros(1, 3, 1, 2, 2)
    planes[..., 0, 0] = 1.0  # one corner differs from its row and column neighbour: 1/2 + 1/2
    off["planes"] = planes
    loss, details = NovelViewLoss(rgb_weight=2.0, mask_weight=0.5, tv_weight=0.1)(batch, off)
    assert details["rgb_loss"] == pytest.approx(0.01, rel=1e-4) and details["mask_loss"] == pytest.approx(0.04, rel=1e-4)
    assert details["tv_loss"] == pytest.approx(1.0)
    assert float(loss) == pytest.approx(2 * 0.01 + 0.5 * 0.04 + 0.1 * 1.0, rel=1e-4)


def test_criterion_specs_use_the_task_whitelist():
    criteria = SingleImageTask().criteria()
    criterion = build_criterion("NovelViewLoss(mask_weight=0.5, tv_weight=0)", criteria)
    assert isinstance(criterion, NovelViewLoss) and criterion.mask_weight == 0.5 and criterion.tv_weight == 0.0
    assert build_criterion(SingleImageTask.default_criterion, criteria).tv_weight == 5e-4  # OpenLRM's
    with pytest.raises(ConfigError, match="rgb_weight"):
        build_criterion("NovelViewLoss(rgb_weight=-1)", criteria)
    with pytest.raises(ConfigError):
        build_criterion("ConfLoss(Regr3D(L21))", criteria)


def test_psnr_and_mask_iou_have_their_closed_forms():
    target = torch.full((2, 3, 4, 4), 0.5)
    assert psnr(target + 0.1, target).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)
    a = torch.zeros(1, 1, 4, 4)
    b = torch.zeros(1, 1, 4, 4)
    a[..., :2, :] = 1.0  # 8 pixels
    b[..., 1:3, :] = 0.9  # 8 pixels, 4 shared
    assert mask_iou(a, b).tolist() == pytest.approx([4 / 12])
    assert mask_iou(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)).tolist() == [1.0]


def test_metrics_split_novel_and_source_views():
    batch = {"target_rgb": torch.full((1, 2, 3, 4, 4), 0.5), "target_mask": torch.ones(1, 2, 1, 4, 4),
             "novel": torch.tensor([[False, True]])}
    rgb = batch["target_rgb"].clone()
    rgb[0, 1] += 0.1
    metrics = SingleImageTask().metrics(batch, {"images_rgb": rgb, "images_weight": torch.ones(1, 2, 1, 4, 4)})
    assert metrics["psnr"] == pytest.approx(20.0, abs=1e-4) and metrics["psnr_source"] == pytest.approx(100.0)
    assert metrics["mask_iou"] == 1.0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mixed_precision_forward_gives_finite_float32_renders_and_gradients(objects_root, dtype):
    torch.manual_seed(0)
    model = ModelLRM(**ModelLRM.tiny_config)
    task = task_for(model)
    task.configure(model)
    dataset = parse_dataset(dataset_spec(objects_root))
    batch = task.collate([dataset[0], dataset[1]])
    with torch.autocast("cpu", dtype=dtype):  # float16 is what the trainer's --amp uses on CUDA
        predictions = task.forward(model, batch)
    assert predictions["planes"].dtype == dtype and predictions["images_rgb"].dtype == torch.float32
    loss, _ = task.loss(NovelViewLoss(), batch, to_float(predictions))
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) > 10 and all(torch.isfinite(g).all() for g in grads)


# ------------------------------------------------------------------------------------------ training
def test_trainer_trains_with_amp_and_reports_held_out_metrics(objects_root, tmp_path):
    summary = train(config(objects_root, tmp_path / "run", amp=True, test_dataset=dataset_spec(objects_root, "test")),
                    show_progress=False)
    assert summary["global_step"] == 4 and np.isfinite(summary["best_test_loss"])  # 8 items / batches of 2
    with (tmp_path / "run" / "metrics.csv").open(newline="") as handle:
        names = {row["name"] for row in csv.DictReader(handle) if row["split"].startswith("test:")}
    assert {"loss", "rgb_loss", "mask_loss", "tv_loss", "psnr", "mask_iou", "psnr_source"} <= names
    assert (tmp_path / "run" / "checkpoint-best" / "model.safetensors").is_file()


def test_stopped_and_resumed_run_matches_an_uninterrupted_one(objects_root, tmp_path):
    """The task's draws (crops, greys) come from item seeds and the render noise from the saved torch RNG."""
    from safetensors.torch import load_file

    common = dict(batch_size=1, accum_iter=2, epochs=1, amp=True)
    train(config(objects_root, tmp_path / "full", **common), show_progress=False)
    interrupted = tmp_path / "interrupted"
    assert train(config(objects_root, interrupted, max_steps=1, **common), show_progress=False)["global_step"] == 1
    assert train(config(objects_root, interrupted, **common), show_progress=False)["global_step"] == 4
    full = load_file(str(tmp_path / "full" / "checkpoint-last" / "model.safetensors"))
    resumed = load_file(str(interrupted / "checkpoint-last" / "model.safetensors"))
    for name in full:
        torch.testing.assert_close(resumed[name], full[name], atol=1e-6, rtol=0, msg=name)


def test_training_on_one_object_reduces_the_loss(objects_root, tmp_path):
    trainer = Trainer(config(objects_root, tmp_path / "run", lr=1e-2), show_progress=False)
    batch = trainer.task.collate([trainer.train_set[0], trainer.train_set[1]])
    def loss() -> float:
        torch.manual_seed(1)  # the same render noise
        with torch.no_grad():
            return float(trainer.compute_loss(batch, model=trainer.model)[0])

    before = loss()
    for _ in range(20):
        trainer.backward_micro_batch(batch, sync=True)
        trainer.optimizer_step()
    assert loss() < 0.8 * before


def test_freeze_encoder_keeps_the_encoder_and_trains_the_rest(objects_root, tmp_path):
    trainer = Trainer(config(objects_root, tmp_path / "run", freeze_encoder=True), show_progress=False)
    model = trainer.model
    assert model.encoder.frozen and not any(p.requires_grad for p in model.encoder.parameters())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    assert not model.encoder.model.training  # frozen like encoder_freeze=True: eval mode while the rest trains
    trainer.backward_micro_batch(trainer.task.collate([trainer.train_set[0], trainer.train_set[1]]), sync=True)
    trainer.optimizer_step()
    after = model.state_dict()
    for name, value in before.items():
        if name.startswith("encoder."):
            assert torch.equal(value, after[name]), name
    assert not torch.equal(before["pos_embed"], after["pos_embed"])
    assert not torch.equal(before["synthesizer.decoder.net.0.weight"], after["synthesizer.decoder.net.0.weight"])
    model.set_freeze("none")
    assert not model.encoder.frozen and all(p.requires_grad for p in model.encoder.parameters())
    with pytest.raises(ConfigError, match="freeze='mask'"):
        model.set_freeze("mask")


def test_set_freeze_matches_the_encoder_freeze_kwarg():
    torch.manual_seed(0)
    built_frozen = ModelLRM(**{**ModelLRM.tiny_config, "encoder_freeze": True})
    frozen_later = ModelLRM(**ModelLRM.tiny_config)
    frozen_later.set_freeze("encoder")
    for model in (built_frozen, frozen_later):
        model.train()
        assert model.encoder.frozen and not model.encoder.model.training
        assert [n for n, p in model.named_parameters() if not p.requires_grad] == \
            [n for n, _ in model.named_parameters() if n.startswith("encoder.")]


def _write_openlrm_folder(folder, model: ModelLRM):
    """OpenLRM's released layout: a flat config.json of ModelLRM kwargs and model.safetensors."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(model.config))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    return folder


@pytest.mark.parametrize("layout", ["openlrm", "recon3r"])
def test_pretrained_initialises_from_an_openlrm_or_recon3r_folder(objects_root, tmp_path, capsys, layout):
    from recon3r.models.checkpoint import save_model

    torch.manual_seed(7)
    source = ModelLRM(**ModelLRM.tiny_config)
    with torch.no_grad():
        source.synthesizer.decoder.net[-1].bias.fill_(0.25)
    folder = (_write_openlrm_folder(tmp_path / "openlrm-tiny", source) if layout == "openlrm"
              else save_model(source, tmp_path / "recon3r-tiny"))
    trainer = Trainer(config(objects_root, tmp_path / "run", pretrained=str(folder)), show_progress=False)
    expected = source.state_dict()
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, expected[name]), name
    out = capsys.readouterr().out
    what = "released ModelLRM folder" if layout == "openlrm" else "recon3r ModelLRM folder"
    assert f"({what})" in out and f"loaded {len(expected)} tensors" in out and "missing_keys, 0" in out
