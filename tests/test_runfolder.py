"""augtrain.runfolder: the run folder's files, read back the way older runs wrote them, and
the one evaluation routine (report.inference) that every inference path goes through."""

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from augtrain import runfolder
from augtrain.device import DevicePolicy, to_float
from augtrain.errors import AugtrainError
from augtrain.report.inference import predict_batch, predict_batches, predict_images


# ------------------------------------------------------------------ files
def old_run_folder(path):
    """A run folder as augtrain wrote it before runfolder.py: the names spelled out."""
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"config": {"model": "cnn4"}, "created": "x"}))
    (path / "history.csv").write_text(
        "epoch,loss,accuracy,val_accuracy\n1,2.0,0.25,\n2,1.5,0.5,0.4\n"
    )
    (path / "metrics.json").write_text(json.dumps({"accuracy": 0.5}))
    return path


def test_an_older_run_folder_reads_back(tmp_path):
    run = old_run_folder(tmp_path / "r")
    assert runfolder.is_run_dir(run) and runfolder.check_run_dir(run) == run
    assert runfolder.read_config(run)["config"]["model"] == "cnn4"
    history = runfolder.read_history(run)
    assert history[0] == {"epoch": 1, "loss": 2.0, "accuracy": 0.25, "val_accuracy": None}
    assert history[1]["val_accuracy"] == 0.4
    assert runfolder.read_metrics(run) == {"accuracy": 0.5}
    assert runfolder.run_dirs(tmp_path) == [run] and runfolder.run_dirs(run) == [run]


def test_history_and_metrics_round_trip(tmp_path):
    rows = [{"epoch": 1, "loss": 0.5, "lr": 0.1}, {"epoch": 2, "loss": 0.25, "lr": 0.05}]
    runfolder.write_history(tmp_path, rows)
    assert (tmp_path / "history.csv").read_text().splitlines()[0] == "epoch,loss,lr"
    assert runfolder.read_history(tmp_path) == rows
    runfolder.write_metrics(tmp_path, {"accuracy": 1.0})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"accuracy": 1.0}


def test_damaged_files_are_one_line_errors(tmp_path):
    run = old_run_folder(tmp_path / "r")
    (run / "metrics.json").write_text("[1, 2]")
    with pytest.raises(AugtrainError, match="not a metrics table"):
        runfolder.read_metrics(run)
    assert runfolder.read_metrics(run, strict=False) == {}
    with pytest.raises(AugtrainError, match="no config.json"):
        runfolder.check_run_dir(tmp_path)
    with pytest.raises(AugtrainError, match="no checkpoint best.pt"):
        runfolder.checkpoint_path(run, "best")
    (run / "last.pt").write_bytes(b"")
    with pytest.raises(AugtrainError, match=r"no checkpoint best.pt \(it has last.pt\)"):
        runfolder.checkpoint_path(run, "best.pt")
    with pytest.raises(AugtrainError, match="empty or truncated"):
        runfolder.load_checkpoint(run)


def test_checkpoint_round_trip_and_ema_weights(tmp_path):
    state = {"model_state": {"w": torch.ones(2)}, "ema": {"state": {"w": torch.zeros(2)}}}
    runfolder.save_checkpoint(tmp_path / "last.pt", {"name": "cnn4"}, ["a"], {"ema": 0.9}, state)
    ckpt = runfolder.load_checkpoint(tmp_path / "last.pt")
    assert runfolder.is_checkpoint(ckpt) and ckpt["classes"] == ["a"]
    assert torch.equal(runfolder.model_weights(ckpt)["w"], torch.zeros(2))  # --ema: the EMA's
    ckpt["config"]["use_ema"] = False
    assert torch.equal(runfolder.model_weights(ckpt)["w"], torch.ones(2))


def test_claims_are_exclusive_and_names_checked(tmp_path):
    first = runfolder.claim_run_dir(tmp_path, None, "m-1")
    second = runfolder.claim_run_dir(tmp_path, None, "m-1")
    assert (first.path.name, second.path.name) == ("m-1", "m-1-2")
    with pytest.raises(AugtrainError, match="already exists"):  # claimed, so taken
        runfolder.claim_run_dir(tmp_path, "m-1", "ignored")
    first.release()
    assert not (first.path / runfolder.CLAIM_FILE).exists()
    second.abort()
    assert not second.path.exists()
    with pytest.raises(AugtrainError, match="plain folder name"):
        runfolder.check_run_name(tmp_path, "../up")
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "config.json").write_text("{}")
    with pytest.raises(AugtrainError, match="already exists"):
        runfolder.check_run_name(tmp_path, "done")
    assert runfolder.check_run_name(tmp_path, "done", is_main=False) == tmp_path / "done"


# ------------------------------------------------------------------ the evaluation routine
class Probe(nn.Module):
    """Sums each image; records the input dtype and whether autocast was on."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[torch.dtype, bool]] = []
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((x.dtype, torch.is_autocast_enabled("cpu")))
        s = x.sum((2, 3)) * self.scale
        return torch.cat([s, -s], 1)


def images(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 8, 8, 1), dtype=torch.uint8, generator=g)


def test_predict_batch_converts_with_the_device_module_and_keeps_the_policys_precision():
    model = Probe().eval()
    x = images().permute(0, 3, 1, 2)
    plain = predict_batch(model, x, DevicePolicy(torch.device("cpu")))
    want = to_float(x.clone()).sum((2, 3))
    assert torch.allclose(plain[:, :1], want) and plain.dtype == torch.float32
    assert model.seen[-1] == (torch.float32, False)
    predict_batch(model, x, DevicePolicy(torch.device("cpu"), torch.bfloat16))
    assert model.seen[-1] == (torch.float32, True)  # autocast from the policy, nothing else


def test_views_average_probabilities_and_modes_are_restored():
    model = Probe().train()
    x = images().permute(0, 3, 1, 2)
    policy = DevicePolicy(torch.device("cpu"))
    views = [lambda b: b, lambda b: b.flip(3)]
    out = list(predict_batches(model, [x, x[:2]], policy, views))
    assert model.training  # put back as it was
    assert [len(o) for o in out] == [5, 2]
    # a sum is flip-invariant: both views agree, so the mean is the one view's softmax
    one = torch.log_softmax(predict_batch(model.eval(), x, policy), 1)
    assert torch.allclose(out[0], one, atol=1e-6)


def test_predict_images_batches_nhwc_and_matches_one_batch():
    model = Probe().eval()
    x = images(7)
    policy = DevicePolicy(torch.device("cpu"))
    whole = predict_batch(model, x.permute(0, 3, 1, 2), policy)
    assert torch.equal(predict_images(model, x, policy, batch_size=3), whole)
    assert predict_images(model, x[:0], policy).shape == (0, 0)


def test_binary_models_give_two_class_logits():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 1)).eval()
    model.label_mode = "binary"
    out = predict_batch(model, images().permute(0, 3, 1, 2), DevicePolicy(torch.device("cpu")))
    assert out.shape == (5, 2) and np.all(out[:, 0].numpy() == 0)
