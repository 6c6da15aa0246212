"""The classical, training-free model (RootSIFT-VLAD) on the shared real photos: alone, with
PCA-whitening, and with geometric verification of its shortlist.

Usage: python benchmarks/bench_classical.py [--top-k 20 0]   (0: verify every reference)

Protocol (``../shared/data/places/README.md``): for each place the first photo (by path) is
the query, the others are references; the exif-samples photos (gps/, phones/, orientation/)
are added as references of no place (distractors). The collection is built as a user would
(``Library.create_collection(..., "classical")``, then ``add``: the first add learns the
vocabulary from these photos), and queried with ``locate``.

Rows (Recall@1/@5: share of queries with a photo of their place first / in the first five):

- ``classical alone``: the first-stage ranking of ``locate``;
- ``classical, PCA-whitened``: the same descriptors whitened by a PCA fitted on the
  references (the question "does whitening help here?");
- ``classical + verification (K)``: the top-K re-ranked by verified inliers, those below the
  threshold behind in first-stage order (``verification.verify_pair``; reference features
  extracted once beforehand, as a collection stores them; the query's own extraction is
  timed with the verification).

``classical_rows`` is what ``bench_real_places.py`` calls for its classical rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciceapp.engine.classical_model import CLASSICAL, features_of
from sciceapp.engine.library import Library
from sciceapp.engine.locate import locate
from sciceapp.engine.verification import verify_pair

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DISTRACTOR_FOLDERS = ("gps", "phones", "orientation")


@dataclass
class Row:
    method: str
    recall_at_1: float
    recall_at_5: float
    s_per_query: float
    note: str = ""


def places_protocol(
    shared: Path = SHARED,
) -> tuple[list[tuple[Path, str]], list[tuple[Path, str | None]]]:
    """-> (queries, references) as (path, place) pairs; distractors have place None."""
    places = shared / "places"
    folders = sorted(p for p in (places / "triplets").iterdir() if p.is_dir())
    folders.append(places / "sacre_coeur")
    queries: list[tuple[Path, str]] = []
    refs: list[tuple[Path, str | None]] = []
    for folder in folders:
        photos = sorted(folder.glob("*.jpg"))
        queries.append((photos[0], folder.name))
        refs += [(p, folder.name) for p in photos[1:]]
    for name in DISTRACTOR_FOLDERS:
        refs += [(p, None) for p in sorted((shared / "exif-samples" / name).iterdir())]
    return queries, refs


def recalls(rankings: list[list[str | None]], places: list[str]) -> tuple[float, float]:
    """Recall@1 and @5 of ranked reference places, one list per query."""
    at1 = np.mean([bool(r) and r[0] == p for r, p in zip(rankings, places, strict=True)])
    at5 = np.mean([p in r[:5] for r, p in zip(rankings, places, strict=True)])
    return float(at1), float(at5)


def _whitened(collection, queries: np.ndarray) -> list[list[int]]:
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


def classical_rows(
    queries: list[tuple[Path, str]],
    references: list[tuple[Path, str | None]],
    work: Path,
    *,
    verify_top_k: tuple[int, ...] = (20, 0),
) -> tuple[list[Row], dict[str, float]]:
    """Build the classical collection in ``work`` and measure every row (module docstring).

    Returns the rows and timings of the build (``index_s``, ``vocabulary_photos``).
    """
    folder = work / "refs"
    for i, (path, place) in enumerate(references):
        target = folder / (place or "distractors") / f"{i:03d}_{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)
    library = Library(work / "data")
    collection = library.create_collection("classical", CLASSICAL)
    start = time.perf_counter()
    collection.add([folder])
    build = {"index_s": time.perf_counter() - start, "photos": float(len(references))}
    place_of = {
        str(p.path): (
            Path(p.path).parent.name if Path(p.path).parent.name != "distractors" else None
        )
        for p in collection.photos()
    }
    paths = [q for q, _ in queries]
    truth = [place for _, place in queries]
    start = time.perf_counter()
    results = locate(collection, paths, top_k=len(references))
    first_s = (time.perf_counter() - start) / len(paths)
    ranked = [[m.path for m in r.matches] for r in results]
    rows = [
        Row("classical alone", *recalls([[place_of[p] for p in r] for r in ranked], truth), first_s)
    ]

    model = collection.embedder()
    query_vectors = model.embed_inputs([features_of(p.read_bytes()) for p in paths])
    by_id = {p.id: place_of[str(p.path)] for p in collection.photos()}
    whitened = [[by_id[i] for i in r] for r in _whitened(collection, query_vectors)]
    rows.append(
        Row("classical, PCA-whitened (fit on the references)", *recalls(whitened, truth), first_s)
    )

    start = time.perf_counter()
    ref_features = {path: features_of(Path(path).read_bytes()) for path in place_of}
    extract_s = (time.perf_counter() - start) / len(place_of)
    for k in verify_top_k:
        reranked, seconds = [], 0.0
        for query, order in zip(paths, ranked, strict=True):
            start = time.perf_counter()
            mine = features_of(query.read_bytes())
            shortlist = order[:k] if k else order
            outcome = [(path, verify_pair(mine, ref_features[path])) for path in shortlist]
            verified = sorted((o for o in outcome if o[1].verified), key=lambda o: -o[1].inliers)
            rest = [path for path, v in outcome if not v.verified] + order[len(shortlist) :]
            reranked.append([place_of[p] for p in [path for path, _ in verified] + rest])
            seconds += time.perf_counter() - start
        label = f"K = {k}" if k else f"K = all ({len(references)})"
        rows.append(
            Row(
                f"classical + verification ({label})",
                *recalls(reranked, truth),
                first_s + seconds / len(paths),
                f"reference features cached ({extract_s:.2f} s/photo to extract)",
            )
        )
    return rows, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top-k", type=int, nargs="+", default=[20, 0])
    args = parser.parse_args(argv)
    queries, references = places_protocol()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        rows, build = classical_rows(queries, references, Path(tmp), verify_top_k=tuple(args.top_k))
    load_after = os.getloadavg()
    places = len({p for _, p in references if p is not None})
    distractors = sum(p is None for _, p in references)
    print(
        f"{len(queries)} queries, {len(references)} references ({distractors} distractors, "
        f"{places} places); chance Recall@1 about {2 / len(references):.3f}; "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(
        f"collection built (vocabulary learned, {len(references)} photos described) in {build['index_s']:.1f} s"
    )
    print()
    baseline = rows[0].s_per_query
    print("| method | Recall@1 | Recall@5 | s/query | x alone | note |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row.method} | {row.recall_at_1:.3f} | {row.recall_at_5:.3f} | "
            f"{row.s_per_query:.3f} | {row.s_per_query / baseline:.1f}x | {row.note} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
