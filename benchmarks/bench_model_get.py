"""What `sciceapp model get` costs and gives: build time, file size and CPU speed of the
training-free models (dinov2-gem-s, dinov2-gem-b) at fp32 and int8.

The backbones are random weights in the official layout (no weights can be downloaded here);
speed does not depend on the values. fp32 is the baseline measured in the same run; timings
are round robin over the engines, batch 8, after one warm-up call.

    python benchmarks/bench_model_get.py [--models dinov2-gem-s dinov2-gem-b] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "export"))

BACKBONES = {"dinov2-gem-s": "dinov2_vits14", "dinov2-gem-b": "dinov2_vitb14"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(BACKBONES), default=sorted(BACKBONES))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from official_files import official_backbone_state, save_torch

    from sciceapp.export import parity
    from sciceapp.export.get import get_model

    print(f"machine: {os.cpu_count()} CPUs; load before: {_uptime()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-get-") as work:
        work = Path(work)
        for name in args.models:
            weights = save_torch(official_backbone_state(BACKBONES[name]), work / f"{name}.pth")
            built = {}
            for precision in ("fp32", "int8"):
                started = time.perf_counter()
                report = get_model(
                    name, data_dir=work / "data", precision=precision, weights=weights
                )
                built[precision] = (report, time.perf_counter() - started)
            images = parity.random_images(args.batch_size, 224, parity.IMAGENET_MEAN,
                                          parity.IMAGENET_STD)  # fmt: skip
            sessions = {p: parity.cpu_session(r.output) for p, (r, _) in built.items()}
            for session in sessions.values():
                session.run(["descriptors"], {"images": images})  # warm-up
            seconds = {p: [] for p in sessions}
            for _ in range(args.rounds):
                for precision, session in sessions.items():
                    started = time.perf_counter()
                    session.run(["descriptors"], {"images": images})
                    seconds[precision].append(time.perf_counter() - started)
            for precision, (report, build_s) in built.items():
                rate = args.batch_size / float(np.median(seconds[precision]))
                rows.append((name, precision, report.size_bytes / 1e6, build_s, rate))
    base = {name: rate for name, precision, _, _, rate in rows if precision == "fp32"}
    print(f"| model | precision | file MB | build s | images/s (CPU, batch {args.batch_size}) "
          "| vs fp32 |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, precision, size, build_s, rate in rows:
        print(f"| {name} | {precision} | {size:.0f} | {build_s:.0f} | {rate:.2f} | "
              f"{rate / base[name]:.2f}x |")  # fmt: skip
    print(f"load after: {_uptime()}")
    return 0


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    raise SystemExit(main())
