"""Both training stages on synthetic places, on CPU, for a few steps: they learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from training_support import IMAGE_SIZE, TEACHER_LR, small_config, train_options

from sciceapp.engine.evaluation import evaluate, read_split
from sciceapp.errors import CancelledError, SciceappError
from sciceapp.model import build, build_from_checkpoint
from sciceapp.progress import CancelToken
from sciceapp.training.describe import torch_describer
from sciceapp.training.losses import LossWeights
from sciceapp.training.stages import StudentStage, TeacherStage, copy_frozen_parts
from sciceapp.training.trainer import fit

CPU = torch.device("cpu")


def _mean(values) -> float:
    return float(np.mean(values))


def test_teacher_loss_falls_and_recall_rises(trained_teacher):
    report = trained_teacher.report
    assert _mean(report.losses[-4:]) < 0.85 * _mean(report.losses[:4])
    best = max(r[1] for r in report.recalls)
    assert best >= trained_teacher.untrained_recall1 + 10, (
        trained_teacher.untrained_recall1,
        report.recalls,
    )
    assert report.best_recall5 == max(r[5] for r in report.recalls)


def test_teacher_trains_only_its_parts(trained_teacher):
    best = build_from_checkpoint(trained_teacher.report.best_path)
    assert best.teacher
    before = trained_teacher.initial_state
    after = best.state_dict()
    for key, value in after.items():
        if key.startswith("backbone."):
            assert torch.equal(value, before[key]), key
    for part in ("conv.", "tokenmix.", "encoder.", "gem."):
        assert any(not torch.equal(after[k], before[k]) for k in after if k.startswith(part)), part
    checkpoint = torch.load(trained_teacher.report.best_path, weights_only=True)
    assert checkpoint["format"] == "sciceapp-checkpoint/1" and checkpoint["random_init"] is True


def _mean_distance(student, teacher, paths) -> float:
    s = torch_describer(student, IMAGE_SIZE, 16, CPU)(paths)
    t = torch_describer(teacher, IMAGE_SIZE, 16, CPU)(paths)
    return float(((s - t) ** 2).sum(axis=1).mean())


def _student(teacher_path):
    teacher = build_from_checkpoint(teacher_path)
    student = build(teacher.config, teacher=False, seed=1)
    copy_frozen_parts(student, teacher)
    return student, teacher


def test_student_learns_from_the_teacher(trained_teacher, gsv_root, vpr_root, tmp_path):
    student, teacher = _student(trained_teacher.report.best_path)
    split = read_split(vpr_root, "synth", "val")
    untrained = evaluate(torch_describer(student, IMAGE_SIZE, 16, CPU), split).recalls[1]
    distance_before = _mean_distance(student, teacher, split.query_paths)
    options = train_options(gsv_root, vpr_root, tmp_path, max_steps=9)
    report = fit(StudentStage(student, teacher), options, IMAGE_SIZE)
    trained = build_from_checkpoint(report.last_path)
    assert not trained.teacher
    # frozen: the teacher's backbone and 1x1 conv, copied in, never change
    teacher_state = teacher.state_dict()
    for key, value in trained.state_dict().items():
        if key.startswith(("backbone.", "conv.")):
            assert torch.equal(value, teacher_state[key]), key
    assert _mean(report.losses[-3:]) < _mean(report.losses[:3])
    assert _mean_distance(trained, teacher, split.query_paths) < distance_before
    assert max(r[1] for r in report.recalls) > untrained


def test_distillation_alone_pulls_the_student_to_the_teacher(
    trained_teacher, gsv_root, vpr_root, tmp_path
):
    student, teacher = _student(trained_teacher.report.best_path)
    paths = read_split(vpr_root, "synth", "val").query_paths
    before = _mean_distance(student, teacher, paths)
    stage = StudentStage(student, teacher, LossWeights(gamma=0.0, eta=1.0))
    report = fit(stage, train_options(gsv_root, None, tmp_path, max_steps=5), IMAGE_SIZE)
    after = _mean_distance(student, teacher, paths)
    assert after < 0.7 * before, (before, after)
    assert report.losses[-1] < report.losses[0]


def test_resume_continues_where_it_stopped(gsv_root, vpr_root, tmp_path):
    # 24 places in batches of 8: 3 steps per epoch; stop in the middle of epoch 2
    cancel = CancelToken()
    seen: list[int] = []

    def progress(done, total, message=""):
        seen.append(done)
        if done == 4:
            cancel.cancel()

    options = train_options(gsv_root, None, tmp_path, max_steps=6)
    network = build(small_config(), teacher=True, seed=0)
    with pytest.raises(CancelledError):
        fit(TeacherStage(network), options, IMAGE_SIZE, progress=progress, cancel=cancel)
    assert seen == [1, 2, 3, 4]
    last = torch.load(tmp_path / "last.pth", weights_only=True)
    assert (last["epoch"], last["step_in_epoch"], last["global_step"]) == (1, 1, 4)
    # what was learnt before the interruption is in last.pth
    saved = last["model_state_dict"]
    assert all(torch.equal(v, saved[k]) for k, v in network.state_dict().items())

    seen.clear()
    options.resume = True
    fresh = build(small_config(), teacher=True, seed=0)
    report = fit(TeacherStage(fresh), options, IMAGE_SIZE, progress=progress)
    assert seen == [5, 6]
    assert report.steps == 2
    last = torch.load(tmp_path / "last.pth", weights_only=True)
    assert (last["epoch"], last["step_in_epoch"], last["global_step"]) == (2, 0, 6)
    adam_steps = {float(s["step"]) for s in last["optimizer_state_dict"]["state"].values()}
    assert adam_steps == {6.0}
    assert last["scheduler_state_dict"]["last_epoch"] == 6
    # StepLR halves every 3 epochs of steps: 9 steps here, so no halving yet
    assert last["scheduler_state_dict"]["_last_lr"] == [TEACHER_LR]

    # The same 6 steps without the interruption end on the same weights, to the bit: photos,
    # augmentations and dropout depend on the seed and the step, not on the process's history.
    torch.manual_seed(12345)  # whatever the global generator holds must not matter
    whole = tmp_path / "whole"
    straight = build(small_config(), teacher=True, seed=0)
    fit(TeacherStage(straight), train_options(gsv_root, None, whole, max_steps=6), IMAGE_SIZE)
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in straight.state_dict().items())


def test_learning_rate_halves_every_three_epochs_of_steps(gsv_root, tmp_path):
    # 24 places in batches of 8 = 3 steps per epoch: the halving comes after step 9
    options = train_options(gsv_root, None, tmp_path, max_steps=10, lr=1e-4)
    fit(TeacherStage(build(small_config(), teacher=True, seed=0)), options, IMAGE_SIZE)
    last = torch.load(tmp_path / "last.pth", weights_only=True)
    assert last["scheduler_state_dict"]["step_size"] == 9
    assert last["scheduler_state_dict"]["_last_lr"] == pytest.approx([5e-5])
    assert last["optimizer_state_dict"]["param_groups"][0]["lr"] == pytest.approx(5e-5)


class _DivergingStage(TeacherStage):
    """The teacher stage with a loss that turns into NaN at its third step."""

    calls = 0

    def losses(self, images, labels):
        out = super().losses(images, labels)
        self.calls += 1
        if self.calls == 3:
            out["loss"] = out["loss"] * float("nan")
        return out


def test_a_diverging_loss_stops_before_spoiling_the_weights(gsv_root, tmp_path):
    network = build(small_config(), teacher=True, seed=0)
    options = train_options(gsv_root, None, tmp_path, max_steps=6, checkpoint_every_steps=1)
    with pytest.raises(SciceappError, match="lower --lr"):
        fit(_DivergingStage(network), options, IMAGE_SIZE)
    last = torch.load(tmp_path / "last.pth", weights_only=True)
    assert last["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in network.state_dict().values())
