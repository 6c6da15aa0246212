"""Place recognition on real photos: the model alone, and with geometric verification.

Protocol (``../shared/data/places/README.md``): each place is a folder (``triplets/p0`` ...
``triplets/p9``, ``sacre_coeur``); its first photo (sorted by path) is the query and the
others are references; the exif-samples photos (``gps/``, ``phones/``, ``orientation/``) are
added as references of other places (distractors). A query is right at N when one of its
first N matches shows its place; Recall@N is the share of such queries.

Rows, all measured in this run on one collection per model (reference features stored):

- the model alone (first-stage ranking by cosine similarity);
- the model + verification of its first 20 matches (the default) and of all of them;
- the same for the classical, training-free model when this checkout has it
  (``sciceapp.engine.model_kinds``), else a note that says it is missing.

Time per query is ``locate`` end to end (decode, local features of the query, embedding,
search, verification), over all queries divided by their number, with the reference
features already stored; verification alone (the top 20 against stored features, the
query's features ready) is timed too, as the line after each model's indexing says: wall clock, and the CPU time of the process (which other jobs on a
shared machine do not inflate; on an idle 2-core machine the wall time of the verifying
rows is about half of it, as verification runs on both cores). Indexing is measured twice (local features off and on):
the difference per photo is the extra indexing time that ``collection show`` reports, with
the storage per photo. Prints ``uptime`` (the machine is shared) and a Markdown table.

Usage: python benchmarks/bench_real_places.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from sciceapp.engine.library import Library
from sciceapp.engine.locate import locate

DISTRACTOR_FOLDERS = ("gps", "phones", "orientation")
TOP_N = (1, 5)
ALL = 10**9  # verify_top_k: every photo of the collection


def places(data: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    """(queries, references) as (place, path) pairs, following the protocol above."""
    root = data / "places"
    folders = sorted(p for p in (root / "triplets").iterdir() if p.is_dir())
    folders.append(root / "sacre_coeur")
    queries, references = [], []
    for folder in folders:
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".jpg")
        name = str(folder.relative_to(root))
        queries.append((name, photos[0]))
        references += [(name, p) for p in photos[1:]]
    for sub in DISTRACTOR_FOLDERS:
        for photo in sorted((data / "exif-samples" / sub).iterdir()):
            references.append((f"distractor:{sub}", photo))
    return queries, references


def place_recalls(rankings: list[list[str | None]], queries) -> dict[int, float]:
    """Recall@N of ranked reference places (one list per query, in the order of ``queries``)."""
    hits = {n: 0 for n in TOP_N}
    for shown, (place, _) in zip(rankings, queries, strict=True):
        for n in TOP_N:
            hits[n] += place in shown[:n]
    return {n: hits[n] / len(queries) for n in TOP_N}


def recalls(results, queries, place_of: dict[str, str]) -> dict[int, float]:
    return place_recalls([[place_of.get(m.path) for m in r.matches] for r in results], queries)


def place_of(references) -> dict[str, str]:
    """Stored photo path -> its place (as ``collection.add`` records paths)."""
    return {str(p.absolute()): place for place, p in references}


def timed_index(library: Library, name: str, model: str, paths, features: bool):
    start = time.perf_counter()
    collection = library.create_collection(name, model, local_features=features)
    report = collection.add(paths)
    return collection, time.perf_counter() - start, report


def verification_alone(collection, query_paths, k: int = 20) -> tuple[float, float]:
    """(wall ms, CPU ms) per query of verifying the first ``k`` matches against the stored
    reference features (``verify_matches``, its thread pool as ``locate`` runs it), the
    query's own features extracted beforehand: the issue's "verifying the top 20" alone."""
    from concurrent.futures import ThreadPoolExecutor

    from sciceapp.engine.images import load_upright
    from sciceapp.engine.local_features import DEFAULT_MAX_SIDE_PX, extract_features
    from sciceapp.engine.verify_matches import verify_matches

    first = locate(collection, query_paths, top_k=k, verify=False)
    store = collection.features()
    wall = cpu = 0.0
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for path, result in zip(query_paths, first, strict=True):
            image, size = load_upright(path, min_side=DEFAULT_MAX_SIDE_PX)
            features = extract_features(np.asarray(image), original_size=size)
            start, cpu_start = time.perf_counter(), time.process_time()
            verify_matches(features, result.matches, store, verify_top_k=k, pool=pool)
            wall += time.perf_counter() - start
            cpu += time.process_time() - cpu_start
    return wall / len(query_paths) * 1000, cpu / len(query_paths) * 1000


def bench_model(library: Library, label: str, model: str, queries, references) -> list[tuple]:
    paths = [p for _, p in references]
    place_of_path = place_of(references)
    plain, plain_s, _ = timed_index(library, f"{label}-plain", model, paths, features=False)
    collection, features_s, report = timed_index(library, label, model, paths, features=True)
    summary = collection.summary()
    indexed = summary.indexed
    print(
        f"{label}: {indexed} references indexed ({len(report.skipped)} skipped), "
        f"{plain_s / indexed * 1000:.0f} ms/photo without local features, "
        f"{features_s / indexed * 1000:.0f} ms/photo with them "
        f"(extraction alone {summary.features_ms_per_photo:.0f} ms), "
        f"{summary.features_bytes_per_photo / 1024:.0f} KB/photo"
    )
    del plain
    query_paths = [p for _, p in queries]
    rows = []
    settings = (
        (f"{label} alone", {"verify": False}),
        (f"{label} + verification, K = 20", {"verify_top_k": 20}),
        (f"{label} + verification, K = all ({indexed})", {"verify_top_k": ALL}),
    )
    base_ms = None
    for name, options in settings:
        locate(collection, query_paths[:1], top_k=5, **options)  # warm: session, files
        start, cpu = time.perf_counter(), time.process_time()
        results = locate(collection, query_paths, top_k=5, **options)
        ms = (time.perf_counter() - start) / len(query_paths) * 1000
        cpu_ms = (time.process_time() - cpu) / len(query_paths) * 1000
        base_ms = base_ms or ms
        found = recalls(results, queries, place_of_path)
        verified = sum(bool(r.matches) and r.matches[0].verified for r in results)
        right = sum(
            bool(r.matches)
            and r.matches[0].verified
            and place_of_path.get(r.matches[0].path) == place
            for r, (place, _) in zip(results, queries, strict=True)
        )
        rows.append((name, found[1], found[5], ms, cpu_ms, ms / base_ms, verified, right))
    wall_ms, cpu_ms = verification_alone(collection, query_paths)
    load = os.getloadavg()[0]
    print(
        f"{label}: verifying the top 20 alone (stored reference features, query features "
        f"ready): {wall_ms:.0f} ms wall, {cpu_ms:.0f} ms CPU per query "
        f"({cpu_ms / (os.cpu_count() or 1):.0f} ms per core), load average {load:.1f}"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared/data")
    args = parser.parse_args()
    queries, references = places(args.data)
    own = [sum(place == q for place, _ in references) for q, _ in queries]
    print(
        f"{len(queries)} queries, {len(references)} references "
        f"({sum(p.startswith('distractor') for p, _ in references)} distractors); "
        f"chance Recall@1 {sum(own) / len(own) / len(references):.3f}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        from sciceapp.export import export_onnx  # toolkit (torch) only to build the model

        tiny = Path(tmp) / "tiny.onnx"
        export_onnx(tiny, preset="tiny", random_init=True, seed=0)
        library = Library(Path(tmp) / "data")
        rows += bench_model(library, "tiny random-weight model", str(tiny), queries, references)
        try:
            from sciceapp.engine.model_kinds import CLASSICAL
        except ImportError:
            print("classical model: not in this checkout (sciceapp.engine.model_kinds missing)")
        else:
            rows += bench_model(
                library, "classical (RootSIFT-VLAD)", CLASSICAL, queries, references
            )
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {uptime}"
    )
    print(
        "\n| method | Recall@1 | Recall@5 | ms/query (wall) | CPU ms/query | wall vs alone "
        "| first match verified (right place) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r1, r5, ms, cpu_ms, ratio, verified, right in rows:
        print(
            f"| {name} | {r1:.2f} | {r5:.2f} | {ms:.0f} | {cpu_ms:.0f} | {ratio:.1f}x "
            f"| {verified}/{len(queries)} ({right}) |"
        )


if __name__ == "__main__":
    main()
