"""Where was a photo taken? Embed it, search the collection, and let the geotagged matches vote.

For one query with top-K matches of similarity ``s_i`` (cosine, best first):

- each match with GPS gets the weight ``w_i = exp((s_i - s_1) / TEMPERATURE)`` (1 for the best
  match, falling off as similarity drops); matches without GPS are listed but do not vote;
- the *cluster* is the heaviest group of geotagged matches lying within ``radius_m`` of one
  of them (``geo.heaviest_cluster``); the prediction is its ``w``-weighted centre. When no two
  matches agree, the cluster is the single best geotagged match;
- the confidence is the product of three factors, each in (0, 1]:

  ``share``    = cluster weight / weight of every geotagged match (does the top-K agree?)
  ``margin``   = 1 / (1 + exp(-(s_in - s_out) / TEMPERATURE)), with ``s_in`` / ``s_out`` the
                 best similarity inside / outside the cluster; 1 when nothing lies outside
                 (is the winning place clearly more similar than the best rival place?)
  ``support``  = 1 - 2 ** -n, n = number of matches in the cluster (one photo is weak evidence)

  so it rises with more agreeing matches and with a larger gap to rival places, and falls as
  rival places get heavier or closer in similarity. It is a ranking signal, not a calibrated
  probability (a random-weight demo model gives confident-looking nonsense).

With verification (``verify_matches.py``, on by default for collections with local
features) the matches are re-ranked, verified ones first, and when some geotagged match is
verified only the verified matches vote: the result is then marked ``verified``, the one
signal a user can trust (docs/verification.md).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from sciceapp.engine.defaults import DEFAULT_RADIUS_M, DEFAULT_TOP_K, DEFAULT_VERIFY_TOP_K
from sciceapp.engine.geo import LatLon, haversine_m, heaviest_cluster, weighted_mean_position
from sciceapp.engine.images import SUPPORTED_TEXT
from sciceapp.engine.locate_results import Consensus, LocateResult, Match
from sciceapp.engine.pipeline import embed_files, scan
from sciceapp.engine.places import name_results
from sciceapp.engine.verify_matches import verify_matches
from sciceapp.errors import CollectionError
from sciceapp.progress import CancelToken, ProgressFn

log = logging.getLogger(__name__)

TEMPERATURE = 0.05  # similarity difference that divides a match's weight by e


def consensus(matches: Sequence[Match], radius_m: float = DEFAULT_RADIUS_M) -> Consensus:
    """Predicted position and confidence from ranked matches (formula in the module docstring)."""
    voters = [i for i, m in enumerate(matches) if m.has_gps]
    if not voters:
        return Consensus(None, 0.0)
    scores = np.array([matches[i].score for i in voters], dtype=np.float64)
    weights = np.exp((scores - scores.max()) / TEMPERATURE)
    points = [(matches[i].lat, matches[i].lon) for i in voters]
    members = heaviest_cluster(points, weights, radius_m)
    inside = np.zeros(len(voters), dtype=bool)
    inside[members] = True
    predicted = weighted_mean_position([points[i] for i in members], weights[inside])
    share = float(weights[inside].sum() / weights.sum())
    if inside.all():
        margin = 1.0
    else:
        gap = float(scores[inside].max() - scores[~inside].max())
        margin = 1.0 / (1.0 + math.exp(-gap / TEMPERATURE))
    support = 1.0 - 2.0 ** -len(members)
    confidence = min(1.0, max(0.0, share * margin * support))
    return Consensus(predicted, confidence, [voters[i] for i in members])


def result_for(
    query: str,
    matches: list[Match],
    query_gps: LatLon | None,
    radius_m: float = DEFAULT_RADIUS_M,
) -> LocateResult:
    """Combine ranked matches and the query's own GPS into a :class:`LocateResult`; when some
    geotagged match is verified, only the verified ones vote."""
    trusted = [i for i, m in enumerate(matches) if m.verified and m.has_gps]
    if trusted:
        vote = consensus([matches[i] for i in trusted], radius_m)
        vote.cluster = [trusted[i] for i in vote.cluster]
    else:
        vote = consensus(matches, radius_m)
    error_m = None
    if vote.predicted is not None and query_gps is not None:
        error_m = haversine_m(*vote.predicted, *query_gps)
    return LocateResult(
        query, vote.predicted, vote.confidence, matches, query_gps, error_m, None, vote.cluster,
        verified=bool(trusted),
    )  # fmt: skip


def query_photos(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The photos to locate: folders replaced by the photos inside them (recursively, sorted),
    anything else kept as given so that a missing or unreadable file gets its own error row.

    Raises ``CollectionError`` when a folder holds no photos (say which one).
    """
    photos: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            photos.append(path)
            continue
        found = scan([path])
        if not found:
            raise CollectionError(
                f"No photos found in the folder {path} (supported: {SUPPORTED_TEXT}); "
                "give photo files or a folder that contains some."
            )
        photos += found
    return photos


def _same_file(a: str, b: str) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def _is_self(record: Any, item: Any) -> bool:
    """The reference photo is the query itself: the same content, or the same file."""
    same_content = item.sha256 is not None and getattr(record, "sha256", None) == item.sha256
    return same_content or _same_file(str(record.path), str(item.path))


def locate(
    collection: Any,
    photos: Sequence[str | os.PathLike[str]],
    top_k: int = DEFAULT_TOP_K,
    radius_m: float = DEFAULT_RADIUS_M,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    exclude_self: bool = False,
    verify: bool = True,
    verify_top_k: int = DEFAULT_VERIFY_TOP_K,
) -> list[LocateResult]:
    """One :class:`LocateResult` per photo, in order; unreadable photos get ``error`` set.

    ``collection`` is an ``engine.library.Collection``. With ``exclude_self`` a reference
    photo that is the query itself (same content hash or same path) is not counted as a
    match, and the error is measured against the rest; either way ``in_collection`` says
    whether the query is one of the collection's photos (used by survey review). With
    ``verify`` (and a collection with local features) the first ``verify_top_k`` matches are
    verified geometrically and re-ranked (module docstring); ``top_k`` are returned.
    Predictions and matches get their place names (``engine.places``).
    Raises ``CancelledError`` when ``cancel`` is set (between batches).
    """
    if top_k <= 0:
        raise ValueError(f"top_k must be positive, got {top_k}.")
    if radius_m <= 0:
        raise ValueError(f"radius_m must be positive, got {radius_m}.")
    if verify_top_k <= 0:
        raise ValueError(f"verify_top_k must be positive, got {verify_top_k}.")
    paths = [Path(p) for p in photos]
    embedder = collection.embedder()
    verifying = verify and collection.local_features
    search_k = max(top_k, verify_top_k) if verifying else top_k
    search_k = min(search_k, max(top_k, collection.index().ntotal))  # K = all: the collection
    results: list[LocateResult] = []
    batches = embed_files(
        paths, embedder, progress=progress, cancel=cancel, local_features=verifying,
        features_decode=collection.local_features,
    )  # fmt: skip
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="verify")
    with pool:
        for batch in batches:
            results += _batch_results(
                collection, batch, search_k, top_k, radius_m, exclude_self,
                verify_top_k if verifying else 0, pool,
            )  # fmt: skip
    name_results(results)
    return results


def _batch_results(
    collection: Any,
    batch: Any,
    search_k: int,
    top_k: int,
    radius_m: float,
    exclude_self: bool,
    verify_top_k: int,
    pool: ThreadPoolExecutor,
) -> list[LocateResult]:
    """The results of one embedded batch of queries (``verify_top_k`` 0: no verification)."""
    results: list[LocateResult] = []
    found = collection.search(batch.vectors, search_k + int(exclude_self)) if batch.ok else []
    hits_by_path = {id(item): hits for item, hits in zip(batch.ok, found, strict=True)}
    for item in batch.items:
        query = str(item.path)
        if item.error is not None:
            log.info("cannot locate %s: %s", query, item.error)
            results.append(LocateResult(query, error=item.error))
            continue
        hits = hits_by_path[id(item)]
        selves = [_is_self(rec, item) for rec, _ in hits]
        matches = [
            Match(str(rec.path), float(score), rec.lat, rec.lon, rec.id)
            for (rec, score), is_self in zip(hits, selves, strict=True)
            if not (exclude_self and is_self)
        ][:search_k]
        if verify_top_k and item.features is not None:
            matches = verify_matches(
                item.features, matches, collection.features(),
                verify_top_k=verify_top_k, pool=pool,
            )  # fmt: skip
            item.features = None
        matches = matches[:top_k]
        gps = item.meta.gps if item.meta is not None else None
        query_gps = (gps.lat, gps.lon) if gps is not None else None
        result = result_for(query, matches, query_gps, radius_m)
        result.query_gps_reason = item.meta.gps_reason if item.meta is not None else None
        result.in_collection = any(selves)
        results.append(result)
    return results
