"""Issue 11's acceptance, end to end through the CLI, for every registered model class:

`recon3r data make-procedural` (or `make-objects`) writes a small set; the one `recon3r train` command
trains a tiny configuration of the class for one epoch; the result goes through `recon3r eval` on every
task of its system, and each table carries a baseline row.
"""

from __future__ import annotations

import pytest

from recon3r.cli import main
from recon3r.models.registry import get_model_class, list_models
from recon3r.tasks import task_for
from recon3r.utils.spec import format_spec

#: Per system: (data command, train dataset spec with {root}, [(eval task, benchmark, baseline row name)]).
SYSTEMS = {
    "pair": (["data", "make-procedural", "--scenes", "2", "--views", "3", "--size", "64"],
             "8 @ Procedural(ROOT='{root}', resolution=(48, 32))",
             [("relpose", "procedural:1:views=3,size=64", "colmap"), ("depth", "procedural:1:views=2,size=64",
                                                                          "constant-plane")]),
    "stream": (["data", "make-procedural", "--scenes", "2", "--views", "4", "--size", "64", "--kind", "sequence"],
               "4 @ Procedural(ROOT='{root}', resolution=64, num_views=4)",
               [("trajectory", "procedural:1:kind=sequence,views=4,size=64", "constant-velocity"),
                ("video_depth", "procedural:1:kind=sequence,views=4,size=64", "constant-plane")]),
    "single_image": (["data", "make-objects", "--objects", "2", "--renders", "3", "--size", "32"],
                     "4 @ RenderedObjects(ROOT='{root}', num_views=3, resolution=32)",
                     [("novel_view", "{root}", "mean-colour")]),
    "depth_to_3d": (["data", "make-procedural", "--scenes", "4", "--views", "1", "--size", "48"],
                    "8 @ Procedural(ROOT='{root}', num_views=1, resolution=32)",
                    [("depth_to_3d", "procedural:4:size=48", "no-correction")]),
}


@pytest.mark.slow  # one class: data, one epoch and its evaluations on a 2-core CPU (5–25 s each)
@pytest.mark.parametrize("name", list_models())
def test_each_model_class_trains_one_epoch_then_evaluates_beside_its_baselines(name, tmp_path, capsys):
    cls = get_model_class(name)
    task = task_for(cls).name
    data_command, dataset, evaluations = SYSTEMS[task]
    root = tmp_path / "data"
    assert main([*data_command, "--out", str(root)]) == 0
    run = tmp_path / "run"
    code = main(["train", "--model", format_spec(name, cls.tiny_config), "--train_dataset",
                 dataset.format(root=root), "--epochs", "1", "--batch_size", "2", "--lr", "1e-3",
                 "--output_dir", str(run), "--device", "cpu", "--log_freq", "1"])
    assert code == 0
    assert "done: epoch 1" in capsys.readouterr().out
    for eval_task, benchmark, baseline in evaluations:
        code = main(["eval", eval_task, "--benchmark", benchmark.format(root=root), "--method",
                     str(run / "checkpoint-last"), "--niter", "10", "--cache", str(tmp_path / "cache"), "--quiet"])
        table = capsys.readouterr().out
        assert code == 0, (eval_task, table)
        rows = [line for line in table.splitlines() if line.startswith("| ")]
        assert any(line.startswith("| checkpoint-last") for line in rows), table
        assert any(line.startswith(f"| {baseline}") for line in rows), table
