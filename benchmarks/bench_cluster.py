"""The local Ray's overhead: `sciceapp cluster index` against `sciceapp collection add` on the
same photos, the same model, on this machine.

Run: ``python benchmarks/bench_cluster.py [--photos 200] [--preset tiny] [--repeats 2]``

The photos are the real ones of ``../shared/data/exif-samples`` and ``../shared/data/places``,
copied round-robin up to ``--photos`` files (same bytes, other names: every copy costs a full
read, hash and decode). The model is exported with random weights (speed does not depend on
them). Rows, each the best of ``--repeats`` rounds taken in turns:

1. ``collection add`` (in this process: scan, describe in threads, embed, catalogue, store,
   index; local features off, as a shard import would be);
2. ``cluster index`` on a local Ray already running (decode tasks, one model actor, shards
   written by the driver), every round into an empty folder;
3. starting and stopping the local Ray itself (what a command-line run pays once more).

Ratios are against row 1. ``uptime``'s load is printed with the table: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = (
    REPO.parent / "shared" / "data" / "exif-samples",
    REPO.parent / "shared" / "data" / "places",
)


def make_photos(folder: Path, count: int) -> Path:
    from sciceapp.engine.pipeline import scan

    real = scan(SOURCES)
    folder.mkdir(parents=True)
    for i in range(count):
        source = real[i % len(real)]
        shutil.copyfile(source, folder / f"{i:04d}-{source.name}")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import ray

    from sciceapp.cli import main as cli
    from sciceapp.cluster.job import IndexOptions, index
    from sciceapp.export import export_onnx

    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    os.environ["SCICEAPP_DATA_DIR"] = str(work / "data")
    os.environ["SCICEAPP_NO_TUNING"] = "1"  # both paths run ONNX Runtime as is
    try:
        model = work / "model.onnx"
        export_onnx(model, preset=args.preset, random_init=True, seed=0)
        photos = make_photos(work / "photos", args.photos)

        started = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - started
        best = {"collection add": float("inf"), "cluster index": float("inf")}
        for round_ in range(args.repeats):
            name = f"bench{round_}"
            cli(["collection", "create", name, "--model", str(model), "--local-features", "off"])
            wall = time.perf_counter()
            assert cli(["collection", "add", name, "--quiet", str(photos)]) == 0
            best["collection add"] = min(best["collection add"], time.perf_counter() - wall)

            wall = time.perf_counter()
            report = index(model, work / f"shards{round_}", [str(photos)], IndexOptions())
            best["cluster index"] = min(best["cluster index"], time.perf_counter() - wall)
            assert report.photos == args.photos, report
        started = time.perf_counter()
        ray.shutdown()
        ray_start += time.perf_counter() - started

        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        base = best["collection add"]
        print(
            f"{args.photos} photos, model {args.preset} (random weights), {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, best of {args.repeats}"
        )
        print(f"load: {load}\n")
        print("| path | seconds | photos/s | time vs collection add |")
        print("|---|---|---|---|")
        for name, seconds in best.items():
            print(
                f"| {name} | {seconds:.1f} | {args.photos / seconds:.1f} | {seconds / base:.2f}x |"
            )
        print(f"| starting + stopping the local Ray (once per command) | {ray_start:.1f} | | |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
