"""examples/point3r_training.md: the official stage commands are recon3r's, and the tiny CPU recipe runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import torch
from safetensors.torch import load_file

from recon3r.cli import build_parser, main
from recon3r.models.checkpoint import parse_constructor
from recon3r.models.registry import build_model
from recon3r.seeds import POINT3R_STAGES, point3r_stage_command
from recon3r.tasks.stream import StreamTask
from recon3r.train.config import TrainConfig
from recon3r.train.trainer import build_criterion
from recon3r.utils.config_cli import config_from_args

DOC = Path(__file__).resolve().parents[1] / "examples" / "point3r_training.md"
OFFICIAL_PARAMETERS = 828_014_991
ENCODER = ("patch_embed.", "enc_blocks.", "enc_norm.")


def doc_commands(kind: str) -> list[tuple[str, list[str]]]:
    """(info, words) of each ```bash <info>``` block whose info starts with `kind`, as bash splits it."""
    found = re.findall(r"```bash (\S+)\n(.*?)\n```", DOC.read_text(encoding="utf-8"), flags=re.S)
    # bash removes backslash-newline everywhere, inside double quotes too; spec strings ignore the spaces left
    return [(info, [re.sub(r"\s+", " ", w) for w in shlex.split(body.replace("\\\n", ""))])
            for info, body in found if info.startswith(kind)]


def test_official_stage_commands_match_the_seed_refusals_and_parse():
    blocks = dict(doc_commands("official="))
    assert set(blocks) == {f"official={name}" for name in POINT3R_STAGES}
    for name in POINT3R_STAGES:
        words = blocks[f"official={name}"]
        assert words == [re.sub(r"\s+", " ", w) for w in shlex.split(point3r_stage_command(name))], name
        assert words[:5] == ["torchrun", "--nproc_per_node=8", "-m", "recon3r", "train"]
        config = config_from_args(TrainConfig, build_parser().parse_args(words[4:]))
        config.validate()
        build_criterion(config.train_criterion, StreamTask().criteria())
        model_name, kwargs = parse_constructor(config.model)
        with torch.device("meta"):
            model = build_model(model_name, kwargs)
        assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMETERS
        frozen = name in ("long_stage3", "finetune")
        assert config.freeze_encoder is frozen
        assert all(p.requires_grad is not frozen for p in model.enc_blocks.parameters())
        assert f"num_views={8 if frozen else 5}" in config.train_dataset and config.clip_grad == 1.0


def test_tiny_cpu_recipe_runs_and_stage3_keeps_the_encoder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    commands = doc_commands("tiny")
    assert len(commands) == 7
    for _, words in commands:
        assert words[0] == "recon3r"
        assert main(words[1:]) == 0, words
    out = capsys.readouterr().out
    assert "ignored (unexpected_keys, 1): [mask_token]" in out  # stage 1's report on the DUSt3R checkpoint
    stage2 = load_file(str(tmp_path / "runs/stage2/checkpoint-last/model.safetensors"))
    stage3 = load_file(str(tmp_path / "runs/stage3/checkpoint-last/model.safetensors"))
    encoder = [k for k in stage2 if k.startswith(ENCODER)]
    assert encoder and all(torch.equal(stage2[k], stage3[k]) for k in encoder)
    assert any(not torch.equal(stage2[k], stage3[k]) for k in stage2 if k.startswith("dec_blocks."))
    assert (tmp_path / "runs/stream_out/stream.json").is_file()
