"""GPU throughput of the cluster path (issue 13), side by side in one run, one table:

- the model alone: ONNX Runtime CUDA fp32 and fp16, ONNX Runtime's TensorRT provider in fp16
  (the app's ``Embedder(provider="tensorrt")``: engine cache in the data folder, built in a
  warm-up call and reused), PyTorch eager fp16;
- end to end: ``cluster index`` on a local Ray (one model worker on the GPU, decode tasks on
  every CPU), decoding on the CPU and with ``--decode gpu`` (nvImageCodec), on 12-megapixel
  JPEGs.

Goals (issue 13): end-to-end within 1.5x of the best model-only row, and the best ONNX
Runtime fp16 row above PyTorch eager fp16.

    python3 benchmarks/bench_cluster_gpu.py [--preset scicevpr-b] [--photos 1024]

Needs a CUDA GPU, onnxruntime-gpu, torch, ray[data] and (for the GPU-decoding row)
nvidia-nvimgcodec-cu12; ``run_on_gpu.sh WHEELS OUT cluster`` installs them and runs this.
**Not run yet**: written in a session without a GPU machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_indexing import make_photos  # noqa: E402
from bench_model import ort_runner, time_round_robin, torch_runner  # noqa: E402

UNIQUE_PHOTOS = 64
"""Distinct photos generated (12 MP JPEG encoding is slow); copied up to ``--photos`` files."""


def model_only(args, fp32: Path, fp16: Path) -> list[tuple[str, float]]:
    from sciceapp.engine.onnx_model import Embedder

    bench = SimpleNamespace(
        provider="cuda", threads=0, repeats=args.repeats, warmup=2, pause=0.0, preset=args.preset
    )
    trt = Embedder(fp16, provider="tensorrt", batch_size=args.batch_size)
    rows = [
        ("ONNX Runtime CUDA fp32 (TF32)", ort_runner(fp32, bench)),
        ("ONNX Runtime CUDA fp16", ort_runner(fp16, bench)),
        (f"ONNX Runtime {trt.provider} fp16 (engine cache in the data folder)", trt.embed),
        ("PyTorch eager fp16", torch_runner(bench, half=True)),
    ]
    images = np.random.default_rng(0).standard_normal((args.batch_size, 3, 224, 224))
    images = images.astype(np.float32)
    speeds = time_round_robin([SimpleNamespace(run=run) for _, run in rows], images, bench)
    return [(name, speed) for (name, _), speed in zip(rows, speeds, strict=True)]


def end_to_end(args, model: Path, photos: Path, work: Path) -> list[tuple[str, float, str]]:
    import ray

    from sciceapp.cluster.job import IndexOptions, index

    ray.init(include_dashboard=False, log_to_driver=False)
    rows = []
    try:
        for decode in ("cpu", "gpu"):
            options = IndexOptions(
                workers=1, gpus_per_worker=1, batch_size=args.batch_size, decode=decode
            )
            index(model, work / f"warm-{decode}", [str(photos / "warm")], options)
            started = time.perf_counter()
            report = index(model, work / f"shards-{decode}", [str(photos / "all")], options)
            seconds = time.perf_counter() - started
            notes = "; ".join(sorted(report.workers))
            rows.append((f"cluster index, decode on {decode}", report.photos / seconds, notes))
    finally:
        ray.shutdown()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="scicevpr-b")
    parser.add_argument("--photos", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    from sciceapp.export import export_onnx
    from sciceapp.export.precision import to_fp16

    work = Path(tempfile.mkdtemp(prefix="bench-cluster-gpu-"))
    os.environ["SCICEAPP_DATA_DIR"] = str(work / "data")
    try:
        models = work / "data" / "models"  # where the app keeps models: the TRT cache goes here
        models.mkdir(parents=True)
        fp32 = export_onnx(models / "fp32.onnx", preset=args.preset, random_init=True).output
        fp16 = models / "fp16.onnx"
        to_fp16(fp32, fp16)
        unique = make_photos(work / "unique", UNIQUE_PHOTOS, 12.0)
        for name, count in (("warm", 16), ("all", args.photos)):
            (work / "photos" / name).mkdir(parents=True)
            for i in range(count):
                shutil.copyfile(unique[i % len(unique)], work / "photos" / name / f"{i:05d}.jpg")

        timed = [(name, speed, "") for name, speed in model_only(args, fp32, fp16)]
        timed += end_to_end(args, fp16, work / "photos", work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    best_model = max(speed for name, speed, _ in timed[:3])
    best_fp16, eager = max(timed[1][1], timed[2][1]), timed[3][1]
    print(
        f"{args.preset}, random weights, batch {args.batch_size}, {args.photos} 12-MP JPEGs, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}\n"
    )
    print("| path | photos/s | vs best ONNX Runtime model-only | notes |")
    print("|---|---|---|---|")
    for name, speed, notes in timed:
        print(f"| {name} | {speed:.0f} | {speed / best_model:.2f}x | {notes} |")
    end = max(speed for name, speed, _ in timed[4:])
    print(
        f"\nend to end within 1.5x of model-only: {best_model / end:.2f}x "
        f"({'met' if best_model / end <= 1.5 else 'not met'}); ONNX Runtime fp16 vs "
        f"PyTorch eager fp16: {best_fp16 / eager:.2f}x ({'met' if best_fp16 > eager else 'not met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
