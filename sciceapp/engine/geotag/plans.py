"""What to write, from a review or a GPX match: write requests, and why other photos are left.

Shared by the CLI (``sciceapp review --apply``, ``sciceapp geotag gpx``) and the GUI, so both
write the same positions with the same source notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sciceapp.engine.geotag.gpx import GpxMatch, Track
from sciceapp.engine.geotag.tags import GeoTag
from sciceapp.engine.geotag.writer import WriteRequest

APPLY_CHOICES = ("flagged", "all")


@dataclass
class Plan:
    """Requests to write, and (photo, reason) for every photo left alone."""

    requests: list[WriteRequest] = field(default_factory=list)
    left: list[tuple[str, str]] = field(default_factory=list)


def prediction_source(result: Any, collection_name: str) -> str:
    """The note written with a predicted position (which evidence it rests on)."""
    cluster = [result.matches[i] for i in result.cluster if i < len(result.matches)]
    verified = sum(1 for m in cluster if m.verified)
    if verified:
        evidence = f"{verified} verified match{'es' if verified != 1 else ''}"
    else:
        evidence = f"{len(cluster)} unverified match{'es' if len(cluster) != 1 else ''}"
    return f"sciceapp: predicted from {evidence} in collection {collection_name}"


def plan_review(
    rows: Sequence[Any],
    collection_name: str,
    apply: str = "flagged",
    min_confidence: float = 0.0,
    include_unverified: bool = False,
    sidecar: str | None = None,
) -> Plan:
    """Write requests for survey ``ReviewRow``s: the flagged ones (or all with a prediction)
    whose prediction is verified (unless ``include_unverified``) and confident enough."""
    if apply not in APPLY_CHOICES:
        raise ValueError(f"apply must be one of {', '.join(APPLY_CHOICES)}, not {apply!r}")
    plan = Plan()
    for row in rows:
        result = getattr(row, "result", None)
        if row.predicted is None or result is None:
            if apply == "all":
                plan.left.append((row.path, row.note or "no predicted position"))
            continue
        if apply == "flagged" and not row.flagged:
            continue
        if not (result.verified or include_unverified):
            plan.left.append((row.path, "the prediction is not geometrically verified"))
        elif row.confidence < min_confidence:
            plan.left.append(
                (row.path, f"confidence {row.confidence:.2f} is below {min_confidence:.2f}")
            )
        else:
            lat, lon = row.predicted
            tag = GeoTag(lat, lon, None, prediction_source(result, collection_name))
            plan.requests.append(WriteRequest(Path(row.path), tag, sidecar))
    return plan


def plan_gpx(matches: Sequence[GpxMatch], track: Track, sidecar: str | None = None) -> Plan:
    """Write requests for the photos the track places; the others with their reason."""
    plan = Plan()
    source = f"sciceapp: from GPX track {track.name}"
    for match in matches:
        if match.point is None:
            plan.left.append((match.photo, match.reason or "not on the track"))
            continue
        tag = GeoTag(match.point.lat, match.point.lon, match.point.alt, source)
        plan.requests.append(WriteRequest(Path(match.photo), tag, sidecar))
    return plan
