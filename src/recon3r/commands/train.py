"""`recon3r train`: train any registered model through its task (single process, or many under torchrun)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from recon3r.seeds import add_seed_train_arguments, add_train3d_arguments
    from recon3r.train.config import TrainConfig
    from recon3r.utils.config_cli import add_config_arguments

    parser.epilog = (
        "Multi-GPU / multi-node: torchrun --nproc_per_node=N -m recon3r train ...  "
        "A run resumes automatically from OUTPUT_DIR/checkpoint-last. OUTPUT_DIR must be new, empty or an "
        "earlier recon3r training run's folder; any other non-empty folder is refused. DUSt3R's and Train-3D's "
        "train.py flags work as written (see docs/from-the-seeds.md)."
    )
    add_config_arguments(parser, TrainConfig, underscores=True)
    add_seed_train_arguments(parser)
    add_train3d_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from recon3r.io.output_dir import prepare_training_dir
    from recon3r.seeds import apply_train3d_args, check_seed_train_args
    from recon3r.train.config import TrainConfig
    from recon3r.train.trainer import train
    from recon3r.utils.config_cli import config_from_args

    apply_train3d_args(args)
    check_seed_train_args(args)
    config = config_from_args(TrainConfig, args)
    prepare_training_dir(config.output_dir, inputs=[config.pretrained, config.duster_path, config.exif_path])
    summary = train(config)
    print(f"done: epoch {summary['epoch']}, step {summary['global_step']}, best test loss {summary['best_test_loss']:.4g}")
    return 0
