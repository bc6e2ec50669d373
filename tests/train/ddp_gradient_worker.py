"""Run under torchrun by test_distributed.py: each rank backprops its half of a fixed global batch."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))  # test helper script: import the sibling test module
from test_distributed import GLOBAL_BATCH, config, gradients_of  # noqa: E402

from recon3r.train.trainer import Trainer  # noqa: E402

if __name__ == "__main__":
    output_dir = Path(sys.argv[1])
    torch.set_num_threads(1)
    trainer = Trainer(config(output_dir, batch_size=2), show_progress=False)
    try:
        rank = trainer.context.rank
        grads = gradients_of(trainer, GLOBAL_BATCH[rank * 2 : rank * 2 + 2])
        if rank == 0:
            torch.save(grads, output_dir / "ddp_grads.pt")
    finally:
        trainer.close()
