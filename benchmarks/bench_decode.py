"""How indexing's read-and-decode stage scales with decode threads (no model).

With a GPU the model embeds photos far faster than the CPUs decode them, so the decode
pool sets the indexing rate. This runs the real pipeline (``embed_files``: read, SHA-256,
EXIF, draft-mode decode to 224 px) with a stand-in model that returns zeros, for each thread
count, on the same generated 12 MP JPEGs; the baseline is one thread, measured in the same
run. Each count's best of ``--repeats`` rounds counts.

    python benchmarks/bench_decode.py [--images 96] [--threads 1 2 4 8 16]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_indexing import make_photos

from sciceapp.engine.images import model_input
from sciceapp.engine.pipeline import embed_files

IMAGE_SIZE = 224
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class NoModel:
    """Stands in for the model: the pipeline's own work is all that is timed."""

    batch_size = 64
    decode_side = IMAGE_SIZE

    def prepare_input(self, image, original_size) -> np.ndarray:
        return model_input(image, IMAGE_SIZE, MEAN, STD)

    def embed_inputs(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.zeros((len(inputs), 8), np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--threads", type=int, nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    cpus = os.cpu_count() or 2
    counts = args.threads or sorted({1, 2, 4, 8, cpus, 2 * cpus} - {0})

    with tempfile.TemporaryDirectory() as tmp:
        photos = make_photos(Path(tmp), args.images, args.megapixels)
        rates = {}
        for workers in counts:
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                for _batch in embed_files(photos, NoModel(), workers=workers):
                    pass
                best = min(best, time.perf_counter() - start)
            rates[workers] = len(photos) / best

    print(
        f"{len(photos)} photos of {args.megapixels:g} MP; {cpus} CPUs, "
        f"{platform.processor() or platform.machine()}; best of {args.repeats} rounds"
    )
    print()
    print("| decode threads | photos/s | x 1 thread |")
    print("|---:|---:|---:|")
    for workers, rate in rates.items():
        print(f"| {workers} | {rate:.1f} | {rate / rates[counts[0]]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
