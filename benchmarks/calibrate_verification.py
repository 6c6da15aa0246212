"""Calibrate the verification threshold: inliers of every pair of the shared real photos.

Every photo of ``../shared/data/places/`` and of the exif-samples folders ``gps/``,
``phones/`` and ``orientation/`` is paired with every other (about 2300 pairs). A pair is
*same place* when both photos are of one place folder and *different place* otherwise. The
``orientation/`` photos are copies of two photos of one waterfall (with the same printed
labels) under other EXIF orientations: pairs among them are left out, pairs with the rest
count as different places. For each pair: tentative correspondences (mutual nearest neighbours, ratio
test, one per position) and the inliers of the MAGSAC++ fundamental matrix.

Prints the histogram of inliers over different-place pairs, their maximum, the geometric
tail fitted to it (what ``verification.FALSE_TAIL_*`` hold), the share of same-place pairs
that reach each threshold, and the threshold ``min_inliers_for`` gives for several numbers
of pairs verified per query. docs/verification.md explains the rule.

Usage: python benchmarks/calibrate_verification.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from pathlib import Path

import numpy as np

from sciceapp.engine.images import load_upright
from sciceapp.engine.local_features import extract_features
from sciceapp.engine.verification import (
    FALSE_TAIL_ANCHOR,
    MAX_FALSE_ALARMS,
    VERIFIED_MIN_INLIERS,
    min_inliers_for,
    verify_pair,
)

FOLDERS = ("gps", "phones", "orientation")


def photos(data: Path) -> list[tuple[str, Path]]:
    found = []
    for path in sorted((data / "places").rglob("*.jpg")):
        found.append((str(path.parent.relative_to(data / "places")), path))
    for sub in FOLDERS:
        for path in sorted((data / "exif-samples" / sub).iterdir()):
            found.append((sub if sub == "orientation" else f"{sub}/{path.name}", path))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared/data")
    args = parser.parse_args()
    features = {}
    for place, path in photos(args.data):
        image, original = load_upright(path, 1024)
        features[path] = (place, extract_features(np.asarray(image), original_size=original))
    start = time.perf_counter()
    same, different = [], []
    for a, b in itertools.combinations(features, 2):
        (place_a, fa), (place_b, fb) = features[a], features[b]
        if place_a == place_b == "orientation":
            continue  # copies of two photos with other EXIF orientations: not evidence
        inliers = verify_pair(fa, fb).inliers
        (same if place_a == place_b else different).append(inliers)
    pairs = len(same) + len(different)
    print(f"{len(features)} photos, {pairs} pairs ({len(same)} same place), "
          f"{(time.perf_counter() - start) / pairs * 1000:.0f} ms per pair")  # fmt: skip
    different = np.array(different)
    same = np.array(same)
    counts = np.bincount(different)
    print("different-place pairs, inliers: count")
    print("  " + ", ".join(f"{k}: {c}" for k, c in enumerate(counts) if c))
    print(f"  maximum {different.max()}, 99th percentile {np.percentile(different, 99):.0f}")
    tail = {
        k: float((different >= k).mean()) for k in range(different.max() - 2, different.max() + 1)
    }
    print("  P(inliers >= k): " + ", ".join(f"{k}: {p:.4f}" for k, p in tail.items()))
    ks = [k for k, p in tail.items() if p > 0]
    decay = math.exp(np.polyfit(ks, [math.log(tail[k]) for k in ks], 1)[0])
    print(f"  geometric tail: decay {decay:.3f} per inlier; at {FALSE_TAIL_ANCHOR}: "
          f"{(different >= FALSE_TAIL_ANCHOR).mean():.4f}")  # fmt: skip
    print("same-place pairs: share that reach a threshold")
    for k in (10, 12, 14, VERIFIED_MIN_INLIERS, 18, 20, 25, 30):
        print(
            f"  >= {k}: {(same >= k).mean():.2f} (different-place pairs: {(different >= k).sum()})"
        )
    print(f"threshold for at most {MAX_FALSE_ALARMS} expected false verifications per query:")
    for k in (1, 20, 100, 1000, 10**4, 10**6):
        print(f"  {k} pairs verified per query: {min_inliers_for(k)} inliers")


if __name__ == "__main__":
    main()
