"""The classical, training-free model (RootSIFT-VLAD) on the shared real photos: does
PCA-whitening its descriptors help?

Usage: python benchmarks/bench_classical.py [--data ../shared/data]

The protocol, the collection build and the recall are ``bench_real_places.py``'s (which also
measures the classical model alone and with geometric verification, K = 20 and K = all). This
script adds one question: the same descriptors whitened by a PCA fitted on the references.
Rows (Recall@1/@5, measured in this run): the classical model alone (first-stage ranking of
``locate``, the baseline), and PCA-whitened.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_real_places import place_of, place_recalls, places, timed_index  # noqa: E402

from sciceapp.engine.classical_model import CLASSICAL, features_of  # noqa: E402
from sciceapp.engine.library import Library  # noqa: E402
from sciceapp.engine.locate import locate  # noqa: E402


def whitened_rankings(collection, queries: np.ndarray) -> list[list[int]]:
    """Rankings (photo ids) after PCA-whitening fitted on the collection's own descriptors."""
    ids, refs = collection.index().stored_vectors()
    mean = refs.mean(axis=0)
    _, singular, basis = np.linalg.svd(refs - mean, full_matrices=False)
    keep = max(1, len(singular) - 1)  # the last direction is degenerate after centring
    project = basis[:keep] / (singular[:keep, None] + 1e-6 * singular[0])

    def whiten(x: np.ndarray) -> np.ndarray:
        y = (x - mean) @ project.T
        return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)

    scores = whiten(queries) @ whiten(refs).T
    return [[int(ids[j]) for j in np.argsort(-row)] for row in scores]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared/data")
    args = parser.parse_args(argv)
    queries, references = places(args.data)
    paths = [p for _, p in references]
    where = place_of(references)
    query_paths = [p for _, p in queries]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        collection, build_s, _ = timed_index(
            Library(Path(tmp) / "data"), "classical", CLASSICAL, paths, features=False
        )
        start = time.perf_counter()
        results = locate(collection, query_paths, top_k=len(paths), verify=False)
        alone_s = (time.perf_counter() - start) / len(query_paths)
        alone = place_recalls([[where.get(m.path) for m in r.matches] for r in results], queries)
        start = time.perf_counter()
        vectors = collection.embedder().embed_inputs(
            [features_of(p.read_bytes()) for p in query_paths]
        )
        by_id = {p.id: where.get(p.path) for p in collection.photos()}
        ranked = [[by_id[i] for i in r] for r in whitened_rankings(collection, vectors)]
        whitened_s = (time.perf_counter() - start) / len(query_paths)
        whitened = place_recalls(ranked, queries)
    load_after = os.getloadavg()
    print(
        f"{len(queries)} queries, {len(references)} references; {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}; load average {load_before[0]:.1f} "
        f"before, {load_after[0]:.1f} after; collection built (vocabulary learned) in "
        f"{build_s:.1f} s\n"
    )
    print("| method | Recall@1 | Recall@5 | s/query | x alone |")
    print("|---|---:|---:|---:|---:|")
    for name, found, seconds in (
        ("classical alone", alone, alone_s),
        ("classical, PCA-whitened (fit on the references)", whitened, whitened_s),
    ):
        print(
            f"| {name} | {found[1]:.3f} | {found[5]:.3f} | {seconds:.3f} | "
            f"{seconds / alone_s:.1f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
