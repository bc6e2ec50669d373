"""`recon3r single-image` end to end with a tiny ModelLRM: images, folders, prompts, MIRA's flags, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from recon3r.cli import main
from recon3r.models.checkpoint import save_model
from recon3r.models.lrm import ModelLRM

pytest.importorskip("mcubes", reason="the `lrm` extra (PyMCubes) is not installed")
pytest.importorskip("imageio_ffmpeg", reason="the `lrm` extra (imageio-ffmpeg) is not installed")

FAST = ["--mesh-size", "12", "--views", "4", "--render-size", "12"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    model = ModelLRM(**ModelLRM.tiny_config)
    with torch.no_grad():  # a field dense enough (density softplus(4) ≈ 4 > 3) to give a mesh
        model.synthesizer.decoder.net[-1].bias[0] = 5.0
    return save_model(model, tmp_path_factory.mktemp("lrm") / "weights")


@pytest.fixture
def object_image(tmp_path):
    image = np.full((60, 80, 3), 245, np.uint8)
    image[15:45, 25:50] = (200, 30, 30)
    path = tmp_path / "teapot.png"
    Image.fromarray(image).save(path)
    return path


def test_one_image_writes_mesh_video_and_triplane(weights, object_image, tmp_path, capsys):
    import imageio.v3 as iio
    import trimesh

    out = tmp_path / "out"
    assert main(["single-image", str(object_image), "--weights", str(weights), "--out", str(out), *FAST]) == 0
    for name in ("mesh.ply", "mesh.glb", "turntable.mp4", "turntable.gif", "triplane.safetensors", "input.png"):
        assert (out / name).stat().st_size > 0, name
    video = iio.imread(out / "turntable.mp4")
    assert video.shape == (4, 12, 12, 3)
    with Image.open(out / "turntable.gif") as gif:
        assert gif.n_frames == 4 and gif.size == (12, 12)
    mesh = trimesh.load(out / "mesh.ply", force="mesh")
    assert len(mesh.faces) > 0 and mesh.visual.vertex_colors.shape[0] == len(mesh.vertices)
    from safetensors.torch import load_file

    assert load_file(str(out / "triplane.safetensors"))["planes"].shape == (1, 3, 8, 8, 8)
    assert "wrote" in capsys.readouterr().out


def test_a_folder_gives_one_output_folder_per_image(weights, object_image, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.jpg"):
        Image.open(object_image).convert("RGB").save(folder / name)
    (folder / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    assert main(["single-image", str(folder), "--weights", str(weights), "--out", str(out), "--export_video", *FAST]) == 0
    for stem in ("a", "b"):
        assert (out / stem / "turntable.mp4").is_file() and not (out / stem / "mesh.ply").exists()


def test_mira_test_py_flags_work_as_aliases(weights, object_image, tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "model.safetensors").write_bytes((weights / "model.safetensors").read_bytes())
    config = tmp_path / "elsewhere.json"
    config.write_text((weights / "config.json").read_text())
    out = tmp_path / "out"
    code = main(["single-image", f"--checkpoint_path={loose / 'model.safetensors'}", f"--config_path={config}",
                 "--mode=image", f"--input={object_image}", f"--output_path={out}", "--export_mesh", *FAST])
    assert code == 0
    assert (out / "mesh.glb").is_file() and not (out / "turntable.mp4").exists()


def test_prompt_without_a_text_to_image_model_says_what_to_pass(weights, tmp_path, capsys):
    assert main(["single-image", "--prompt", "a red teapot", "--weights", str(weights), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--text-to-image DIR" in err


def _tiny_diffusers_pipeline(folder):
    """A randomly initialised Stable Diffusion pipeline of a few thousand parameters, built from configs."""
    diffusers = pytest.importorskip("diffusers", reason="the `text-to-image` extra (diffusers) is not installed")
    transformers = pytest.importorskip("transformers")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab[letter], vocab[letter + "</w>"] = len(vocab), len(vocab) + 1
    (folder / "tok").mkdir(parents=True)
    (folder / "tok" / "vocab.json").write_text(json.dumps(vocab))
    (folder / "tok" / "merges.txt").write_text("#version: 0.2\n")
    torch.manual_seed(0)
    tokenizer = transformers.CLIPTokenizer(str(folder / "tok" / "vocab.json"), str(folder / "tok" / "merges.txt"),
                                           model_max_length=16)
    text_encoder = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=16, projection_dim=16, bos_token_id=0, eos_token_id=1, pad_token_id=1))
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4)
    vae = diffusers.AutoencoderKL(block_out_channels=(8, 8), latent_channels=4, norm_num_groups=4, sample_size=16,
                                  down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
    pipeline = diffusers.StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                                 scheduler=diffusers.DDIMScheduler(clip_sample=False, steps_offset=1), safety_checker=None,
                                                 feature_extractor=None, requires_safety_checker=False)
    pipeline.save_pretrained(folder / "pipeline")
    return folder / "pipeline"


@pytest.mark.parametrize("how", ["--prompt", "--mode text --input"])
def test_prompt_runs_text_to_image_then_reconstruction(weights, tmp_path, how):
    pipeline = _tiny_diffusers_pipeline(tmp_path / "t2i")
    out = tmp_path / "out"
    args = [*how.split(), "a red teapot", "--text-to-image", str(pipeline), "--steps", "2", "--weights",
            str(weights), "--out", str(out), *FAST]
    assert main(["single-image", *args]) == 0
    with Image.open(out / "prompt.png") as generated:
        assert generated.size == (16, 16)  # the tiny pipeline's default size
    for name in ("mesh.glb", "turntable.mp4", "turntable.gif"):
        assert (out / name).is_file(), name


def test_errors_name_what_is_wrong(weights, object_image, tmp_path, capsys):
    assert main(["single-image", str(object_image), "--out", str(tmp_path / "o")]) == 2
    assert "--weights" in capsys.readouterr().err
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    assert main(["single-image", str(bad), "--weights", str(weights), "--out", str(tmp_path / "o")]) == 2
    assert "not_an_image.png" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert main(["single-image", str(object_image), "--prompt", "x", "--weights", str(weights), "--out", "o"]) == 2
    assert "not both" in capsys.readouterr().err


def test_cli_refuses_weights_of_another_system_and_names_its_command(tmp_path, object_image, capsys):
    from recon3r.models import save_model
    from recon3r.models.point3r import Point3R

    weights = save_model(Point3R(**Point3R.tiny_config), tmp_path / "p3r")
    assert main(["single-image", str(object_image), "--weights", str(weights), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "not the ModelLRM model" in err and "recon3r stream" in err
    assert not (tmp_path / "o").exists()


def test_openlrm_launcher_words_map_onto_the_flags(weights, object_image, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "infer.yaml"
    config.write_text("source_size: 28\nrender_size: 12\nrender_views: 3\nframe_size: 2\nmesh_size: 12\n"
                      "mesh_thres: 3.0\nsource_cam_dist: 2.0\nrender_fps: 10\n")
    code = main(["single-image", "--infer", str(config), f"model_name={weights}", f"image_input={object_image}",
                 "export_video=true", "export_mesh=false", "render_views=2"])  # a word overrides the YAML
    assert code == 0, capsys.readouterr().err
    out = tmp_path / "dumps" / weights.name  # OpenLRM's dump root for an absolute model_name
    assert not (out / "mesh.ply").exists()
    with Image.open(out / "turntable.gif") as gif:
        assert gif.n_frames == 2 and gif.size == (12, 12)


@pytest.mark.parametrize("words, message", [
    (["model_name={w}", "image_input={i}", "export_video=false", "export_mesh=false"], "at least one must be true"),
    (["--infer", "{c}", "model_name={w}", "image_input={i}"], "unknown setting(s) render_everything"),
    (["--infer", "missing.yaml", "model_name={w}", "image_input={i}"], "--infer missing.yaml: no such file"),
    (["{i}", "--weights", "{w}"], "--out is required"),
    (["{i}", "{i}", "--weights", "{w}", "--out", "o"], "pass one IMAGE or folder, got 2"),
])
def test_openlrm_launcher_errors_are_one_line(weights, object_image, tmp_path, monkeypatch, capsys, words, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("render_everything: true\n")
    argv = [w.format(w=weights, i=object_image, c=tmp_path / "bad.yaml") for w in words]
    assert main(["single-image", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
