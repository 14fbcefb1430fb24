"""The --time-budget guard (training/budget.py, BudgetGuard): the re-planned schedule
(optim.replanned_progress), the rule that re-plans (guard_epochs), Trainer.replan kept in
config.json and last.pt, and exact reruns and resumes of a re-planned run."""

from __future__ import annotations

import json

import pytest
import torch
from fixtures import signal_at, synthetic_arrays, write_image_folder

import augtrain
from augtrain.cli import main
from augtrain.errors import AugtrainError
from augtrain.training import budget
from augtrain.training.budget import CANDIDATES, MAX_EPOCHS, BudgetGuard, guard_epochs
from augtrain.training.callbacks import Callback
from augtrain.training.config import TrainConfig
from augtrain.training.distributed import DistInfo
from augtrain.training.optim import replanned_progress


@pytest.fixture(autouse=True)
def restore_threads():
    """A budget's choice may set torch's threads for the process: put them back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------ the re-planned schedule
def test_no_replans_is_the_plan_itself():
    planned = replanned_progress([])
    assert [planned(t) for t in (0.0, 1.5, 12.0)] == [0.0, 1.5, 12.0]


def test_a_cut_squeezes_the_rest_of_the_schedule_to_the_new_end():
    planned = replanned_progress([[4, 12, 10]])
    assert planned(2.0) == 2.0 and planned(4.0) == 4.0  # up to the re-plan: unchanged
    assert planned(7.0) == pytest.approx(4 + 3 * 8 / 6)
    assert planned(10.0) == pytest.approx(12.0)  # ends where the plan ended


def test_replans_compose_and_a_stop_ends_at_its_epoch():
    planned = replanned_progress([[4, 12, 10], [6, 10, 11]])
    assert planned(6.0) == pytest.approx(replanned_progress([[4, 12, 10]])(6.0))
    assert planned(11.0) == pytest.approx(12.0)
    assert replanned_progress([[5, 10, 5]])(5.0) == 5.0


# ------------------------------------------------------------------ the rule
def test_on_plan_the_plan_stays():
    # 4 of 11 done at 50 s an epoch; 7 more need 350 s of the 360 left
    assert guard_epochs(4, 11, [], [50.0, 50.0], 0, 1.0, 360.0, 15.0) == 11


def test_behind_the_clock_it_cuts_to_what_fits_with_the_spare():
    # 300 s left, 15 to spare: 5 epochs of 50 s (250 s)
    assert guard_epochs(4, 11, [], [50.0, 50.0], 0, 1.0, 300.0, 15.0) == 9


def test_ahead_of_the_clock_it_adds_the_epochs_that_fit_up_to_the_most():
    assert guard_epochs(4, 11, [], [50.0, 50.0], 0, 1.0, 470.0, 15.0) == 13
    assert guard_epochs(4, 11, [], [50.0, 50.0], 0, 1.0, 10_000.0, 15.0) == MAX_EPOCHS
    assert guard_epochs(4, 11, [], [50.0, 50.0], 0, 1.0, 10_000.0, 15.0, most=12) == 12


def test_between_overrun_and_one_more_epoch_it_keeps_the_plan():
    # 7 epochs need 350 s: 355 s left does not overrun, and an 8th needs 415 s with the spare
    assert guard_epochs(4, 11, [], [50.0, 50.0], 0, 1.0, 355.0, 15.0) == 11
    assert guard_epochs(4, 11, [], [50.0, 50.0], 0, 1.0, 349.0, 15.0) == 10


def test_the_later_epochs_are_averaged_and_the_early_ones_costed_apart():
    # done 2 of 6, the first 3 dearer: one more early (60 s) and three later (60 x 0.8 = 48)
    need = 60 + 3 * 48
    assert guard_epochs(2, 6, [60.0, 60.0], [], 3, 0.8, need, 0.0) == 6
    assert guard_epochs(2, 6, [60.0, 60.0], [], 3, 0.8, need - 1, 0.0) == 5
    # the later rate: the median of the last three, not an outlier among them
    assert guard_epochs(5, 8, [], [40.0, 90.0, 40.0], 0, 1.0, 3 * 41.0, 0.0) == 8
    assert guard_epochs(5, 8, [], [90.0, 90.0, 40.0], 0, 1.0, 3 * 41.0, 0.0) == 6
    # two: the faster one (a passing process slowed the second), so no cut on it alone
    assert guard_epochs(5, 12, [], [45.0, 122.0], 0, 1.0, 7 * 46.0, 10.0) == 12


def test_nothing_fits_stops_now_and_no_walls_keeps_the_plan():
    assert guard_epochs(4, 11, [], [50.0], 0, 1.0, 10.0, 1.0) == 4
    assert guard_epochs(0, 11, [], [], 0, 1.0, 10.0, 1.0) == 11


class FakeTrainer:
    """What BudgetGuard reads of a Trainer, and its replan call."""

    def __init__(self, planned: int) -> None:
        self.epoch, self.stop_training, self.is_main = 0, False, True
        self.dist = DistInfo()
        self.config = TrainConfig(epochs=planned)
        self.replans: list[int] = []

    def replan(self, epochs: int) -> None:
        self.replans.append(epochs)
        self.config.epochs = epochs


def test_the_guard_prints_the_pace_it_decided_on_not_the_last_epoch(capsys):
    # 12 planned epochs of 45 s, on plan until the fourth is slowed to 122 s by a passing
    # process: the guard cuts, on the median of the last three (45 s), and says so
    walls = [45.0, 45.0, 45.0, 122.0]
    clock = iter([0.0] + [sum(walls[: i + 1]) for i in range(len(walls))])
    budget_s = 2 * 45.0 + 10 * 45.0 + budget.TAIL_SECONDS + 5.0
    choice = {"budget_s": budget_s, "chosen": {"eval_s": 0.0, "early_epochs": 0}}
    guard, trainer = BudgetGuard(0.0, choice, now=lambda: next(clock)), FakeTrainer(12)
    guard.set_trainer(trainer)
    guard.on_train_begin()
    for epoch in range(len(walls)):
        trainer.epoch = epoch + 1
        guard.on_epoch_end(epoch)
    assert trainer.replans == [10]
    assert "time budget: 12 epochs -> 10 (epochs take 45 s," in capsys.readouterr().out


# ------------------------------------------------------------------ Trainer.replan
N, BATCH = 64, 16  # 4 steps an epoch


def arrays():
    return synthetic_arrays(N, 12)


def opts(tmp_path, **kw):
    """The speed recipe at a tiny width: its triangle schedule, lookahead and save at end."""
    return dict(
        data=arrays(),
        preset="speed",
        model_options={"widths": [8, 16, 16]},
        epochs=4,
        batch_size=BATCH,
        runs_dir=str(tmp_path),
        verbose=0,
        **kw,
    )


class Record(Callback):
    """The lr of every optimizer step, as the step used it."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_batch_end(self, batch, logs=None):
        self.lrs.append(self.trainer.optimizer.param_groups[0]["lr"])


class ReplanAfter(Callback):
    """Re-plans the run to `epochs` once `done` epochs are trained (the guard's call)."""

    def __init__(self, done: int, epochs: int) -> None:
        self.done, self.epochs = done, epochs

    def on_epoch_end(self, epoch, logs=None):
        if self.trainer.epoch == self.done:
            self.trainer.replan(self.epochs)


def test_replan_squeezes_the_lr_and_is_kept_in_config_json_and_last_pt(tmp_path):
    plain, cut = Record(), Record()
    augtrain.train(name="plain", callbacks=[plain], **opts(tmp_path))
    run = augtrain.train(name="cut", callbacks=[cut, ReplanAfter(2, 3)], **opts(tmp_path))
    assert len(plain.lrs) == 16 and len(cut.lrs) == 12
    assert cut.lrs[:8] == plain.lrs[:8]  # the first two epochs as planned
    # the last two planned epochs squeezed into one: every other step of the plan's
    assert cut.lrs[8:] == pytest.approx(plain.lrs[8::2])
    assert len(run.history) == 3 and run.config.epochs == 3
    written = json.loads((tmp_path / "cut" / "config.json").read_text())["config"]
    assert written["epochs"] == 3 and written["replans"] == [[2, 4, 3]]
    saved = torch.load(tmp_path / "cut" / "last.pt", weights_only=False)["config"]
    assert saved["epochs"] == 3 and saved["replans"] == [[2, 4, 3]]
    # the config alone (as --config config.json gives it) trains the same steps
    again = Record()
    rerun = augtrain.train(
        TrainConfig(**{**written, "data": arrays(), "name": "again", "runs_dir": str(tmp_path)}),
        callbacks=[again],
    )
    assert again.lrs == cut.lrs
    assert rerun.metrics["accuracy"] == run.metrics["accuracy"]
    assert rerun.metrics["loss"] == run.metrics["loss"]


def test_a_resume_after_a_replan_continues_the_replanned_schedule_exactly(tmp_path, capsys):
    whole = Record()
    run = augtrain.train(name="whole", callbacks=[whole, ReplanAfter(2, 3)], **opts(tmp_path))
    first, second = Record(), Record()
    with pytest.raises(KeyboardInterrupt):
        augtrain.train(
            name="stopped", callbacks=[first, ReplanAfter(2, 3), signal_at(10)], **opts(tmp_path)
        )
    capsys.readouterr()
    resumed = augtrain.train(resume=tmp_path / "stopped", data=arrays(), callbacks=[second])
    assert first.lrs + second.lrs == whole.lrs
    assert resumed.metrics["accuracy"] == run.metrics["accuracy"]
    assert resumed.metrics["loss"] == run.metrics["loss"]


def test_replan_is_refused_mid_epoch_or_below_the_epochs_done(tmp_path):
    class Early(Callback):
        def on_batch_end(self, batch, logs=None):
            self.trainer.replan(2)

    with pytest.raises(AugtrainError, match="only between epochs"):
        augtrain.train(name="mid", callbacks=[Early()], **opts(tmp_path))


def test_a_bad_replans_entry_is_a_one_line_error():
    with pytest.raises(AugtrainError, match="replans must be"):
        TrainConfig(data=arrays(), replans=[[5, 4, 3]]).validate()
    with pytest.raises(AugtrainError, match="replans must be"):
        TrainConfig(data=arrays(), replans=[[1, 4]]).validate()


# ------------------------------------------------------------------ the guard in a run
def test_a_budget_run_is_guarded_its_replan_recorded_and_the_rerun_is_exact(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(budget, "CANDIDATES", CANDIDATES[:1])
    monkeypatch.setattr(budget, "process_age", lambda: 0.0)
    seen = []

    def behind(done, planned, *args, **kw):  # the clock says: 6 epochs fit, not the plan
        seen.append((done, planned))
        return min(planned, 6)

    monkeypatch.setattr(budget, "guard_epochs", behind)
    folder = write_image_folder(tmp_path / "imgs", per_class=16, size=12)
    common = ["--runs-dir", str(tmp_path / "runs"), "--verbose", "1"]
    assert (
        main(["train", "--data", str(folder), "--time-budget", "40s", "--name", "b", *common]) == 0
    )
    out = capsys.readouterr().out
    path = tmp_path / "runs/b"
    config = json.loads((path / "config.json").read_text())["config"]
    planned = config["budget_choice"]["chosen"]["epochs"]
    assert planned > 6  # tiny data: many epochs fit
    # speednet's first 3 epochs are dearer: the guard waits for two later ones
    assert seen[0] == (5, planned)
    assert config["epochs"] == 6 and config["replans"] == [[5, planned, 6]]
    assert f"time budget: {planned} epochs -> 6" in out
    history = (path / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 6
    # --config config.json: no calibration, no guard, the same epochs and numbers
    seen.clear()
    argv = ["train", "--config", str(path / "config.json"), "--name", "again", *common]
    assert main(argv) == 0
    assert not seen and "time budget" not in capsys.readouterr().out
    again = (tmp_path / "runs/again/history.csv").read_text().splitlines()
    strip = [row.split(",")[:3] for row in history]
    assert [row.split(",")[:3] for row in again] == strip  # epoch, loss, accuracy


def test_no_guard_where_the_user_chose_the_epochs(tmp_path, monkeypatch):
    monkeypatch.setattr(budget, "CANDIDATES", CANDIDATES[:1])
    seen = []
    monkeypatch.setattr(budget, "guard_epochs", lambda *a, **k: seen.append(a) or a[1])
    run = augtrain.train(
        data=arrays(), time_budget="30s", epochs=5, runs_dir=str(tmp_path), name="e", verbose=0
    )
    assert not seen and run.config.epochs == 5 and run.config.replans == []
