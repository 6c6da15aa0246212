"""The model's input from a decoded photo: ``images.model_input`` against the five-pass numpy
formula it replaced (convert, scale, centre, divide, transpose), on real photos.

Run: ``python benchmarks/bench_model_input.py [--size 224] [--rounds 5]``

Both are timed on the same upright photos (``../shared/data/places`` and the readable
``exif-samples``, decoded as indexing decodes them), taking turns in each round; the best round
of each counts (CPU time of this process, which load changes least). Also prints the largest
difference between the two results.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

from sciceapp.engine.images import load_upright, model_input

SHARED = Path(__file__).resolve().parents[2] / "shared/data"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def five_passes(image: Image.Image, size: int) -> np.ndarray:
    """The formula before: float32 copy, * 1/255, - mean, / std, transposed copy."""
    image = image.resize((size, size), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32) * np.float32(1 / 255)
    pixels = (pixels - np.asarray(MEAN, dtype=np.float32)) / np.asarray(STD, dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    folders = ["places", "exif-samples/gps", "exif-samples/orientation", "exif-samples/phones"]
    files = sorted(p for f in folders for p in (SHARED / f).rglob("*.jpg"))
    photos = [load_upright(p.read_bytes(), args.size)[0] for p in files]
    jobs = {
        "five numpy passes (before)": lambda im: five_passes(im, args.size),
        "images.model_input (one pass)": lambda im: model_input(im, args.size, MEAN, STD),
    }
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(args.rounds):
        for name, job in jobs.items():
            started = time.process_time()
            for image in photos:
                job(image)
            best[name] = min(best[name], time.process_time() - started)
    diff = max(
        float(np.abs(five_passes(im, args.size) - model_input(im, args.size, MEAN, STD)).max())
        for im in photos
    )
    before = best["five numpy passes (before)"]
    print(f"\n{len(photos)} real photos, {args.size} px, best of {args.rounds} rounds\n")
    print("| model input | CPU ms/photo | x before |\n|---|---:|---:|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds / len(photos) * 1000:.2f} | {before / seconds:.2f} |")
    print(f"\nlargest difference: {diff:.2e}")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
