"""What a journalled geotag write costs: photos/s for writing a position into JPEGs in place and
into XMP sidecars, and for undoing, against the baseline of replacing each file atomically with
its own bytes (temp file, fsync, rename: the floor any safe writer pays), in the same run.

Works on copies of the shared Arezzo photos (about 155 KB each), never the originals.

    python benchmarks/bench_geotag.py [--photos 90]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from sciceapp.atomic import write_bytes_atomic
from sciceapp.engine.geotag.tags import GeoTag
from sciceapp.engine.geotag.writer import Journal, WriteRequest

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "exif-samples" / "gps"


def copies(folder: Path, count: int) -> list[Path]:
    sources = sorted(SAMPLES.glob("*.jpg"))
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        target = folder / f"{i:04d}_{sources[i % len(sources)].name}"
        shutil.copyfile(sources[i % len(sources)], target)
        target.chmod(0o644)
        paths.append(target)
    return paths


def timed(label: str, count: int, work) -> tuple[str, float]:
    start = time.perf_counter()
    work()
    return label, count / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=90)
    args = parser.parse_args(argv)
    tag = GeoTag(43.4671, 11.8821, 250.0, "sciceapp: benchmark")
    with tempfile.TemporaryDirectory(prefix="bench-geotag-") as tmp:
        root = Path(tmp)
        photos = copies(root / "photos", args.photos)
        journal = Journal(root / "data")
        rows = [
            timed(
                "atomic replace with the same bytes (baseline)",
                len(photos),
                lambda: [write_bytes_atomic(p, p.read_bytes()) for p in photos],
            ),
            timed(
                "geotag write into the JPEG (journal + backup + atomic)",
                len(photos),
                lambda: journal.write([WriteRequest(p, tag) for p in photos], "bench"),
            ),
            timed("undo of that change", len(photos), lambda: journal.undo(1)),
            timed(
                "geotag write into XMP sidecars",
                len(photos),
                lambda: journal.write([WriteRequest(p, tag, "darktable") for p in photos], "bench"),
            ),
        ]
    baseline = rows[0][1]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"{args.photos} photos, about 155 KB each, on {tmp}'s file system\n")
    print("| what | photos/s | time vs baseline |")
    print("|---|---|---|")
    for label, rate in rows:
        print(f"| {label} | {rate:.1f} | {baseline / rate:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
