"""Training-step speed of both SciceVPR stages at a chosen batch, on whatever device is here.

Run: ``python benchmarks/bench_train_step.py [--preset scicevpr-b] [--places 72] [--steps 3]
[--device auto|cpu|cuda]``

The paper's batch is 72 places x 4 images (288 images). Inputs are random tensors of the
network's input size (data loading is not timed) and the networks have random weights
(speed does not depend on them). Measured in one run, after one warm-up step each:

1. baseline: the frozen backbone's forward pass alone, no gradients (what every step pays);
2. teacher step (stage 1): forward, mined multi-similarity loss, backward, Adam step;
3. student step (stage 2): the teacher's forward under no_grad, the student's forward, MS +
   distillation loss, backward, Adam step.

Ratios are step time over the baseline's time. Mixed precision (bf16/fp16 autocast) is used
on CUDA exactly as in training; peak memory is CUDA's allocator peak (or the process's peak
resident size on CPU).
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import torch

from sciceapp.model import build, get_config, trainable_parameters
from sciceapp.training.device import autocast, grad_scaler, select_device
from sciceapp.training.stages import StudentStage, TeacherStage, copy_frozen_parts, set_modes

IMAGES_PER_PLACE = 4


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _time(fn, device: torch.device, steps: int) -> float:
    """Seconds per call, after one warm-up call."""
    fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / steps


def _step_fn(stage, network, device):
    optimizer = torch.optim.Adam(trainable_parameters(network, stage.name), lr=1e-4)
    scaler = grad_scaler(device)

    def step(images, labels):
        set_modes(network, stage.frozen)
        with autocast(device):
            loss = stage.losses(images, labels)["loss"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="scicevpr-b")
    parser.add_argument("--places", type=int, default=72, help="places per batch (x4 images)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args()

    device = select_device(args.device)
    config = get_config(args.preset)
    batch = args.places * IMAGES_PER_PLACE
    size = config.image_size
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, size, size, generator=generator).to(device)
    labels = torch.arange(args.places).repeat_interleave(IMAGES_PER_PLACE).to(device)

    teacher = build(config, teacher=True, seed=0).to(device)
    student = build(config, teacher=False, seed=1).to(device)
    copy_frozen_parts(student, teacher)

    def backbone_only():
        with torch.no_grad(), autocast(device):
            teacher.backbone(images)

    rows = []
    baseline_s = _time(backbone_only, device, args.steps)
    rows.append(("backbone forward (baseline)", baseline_s, _peak_mib(device)))
    for name, stage, network in (
        ("teacher step (stage 1)", TeacherStage(teacher), teacher),
        ("student step (stage 2)", StudentStage(student, teacher), student),
    ):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        step = _step_fn(stage, network, device)
        rows.append(
            (name, _time(lambda s=step: s(images, labels), device, args.steps), _peak_mib(device))
        )

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"{args.preset}, batch {args.places} places x {IMAGES_PER_PLACE} = {batch} images, "
        f"{size} px, device {device.type} ({gpu or platform.machine()}), "
        f"torch threads {torch.get_num_threads()}, {args.steps} timed steps"
    )
    print(f"{'what':<30} {'s/step':>8} {'images/s':>9} {'vs baseline':>11} {'peak MiB':>9}")
    for name, seconds, peak in rows:
        print(
            f"{name:<30} {seconds:>8.3f} {batch / seconds:>9.2f} "
            f"{seconds / baseline_s:>10.2f}x {peak:>9.0f}"
        )


if __name__ == "__main__":
    main()
