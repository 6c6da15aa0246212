"""What a collection tells about itself: counts, model, the index kind in use and why, local
features (``collection show``, ``list``, the window's details)."""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sciceapp.engine import catalogue, conversion
from sciceapp.engine.index_params import describe

if TYPE_CHECKING:
    from sciceapp.engine.collection import Collection


@dataclass
class CollectionSummary:
    name: str
    model_label: str
    model_random_init: bool
    indexed: int
    without_gps: int  # indexed photos that match but cannot vote for a location
    skipped: int
    total: int
    model_path: str = ""
    model_sha256: str = ""
    index_kind: str = "flat"  # the kind asked for (auto: chosen by size)
    created: str = ""
    index_kind_used: str = "flat"  # the kind of the saved index (flat until it can train)
    index_recall_at_10: float | None = None  # of a compressed index vs exact, at conversion
    index_flat_reason: str | None = None  # why flat is in use when another kind was asked for
    index_reason: str = "as chosen"  # why the kind in use is in use (auto: the size rule)
    index_settings: str = ""  # what the compressed kind in use holds, in words
    missing_folders: list[str] = field(default_factory=list)  # not found by the last update
    local_features: bool = False  # the collection's setting
    features_photos: int = 0  # indexed photos that have local features stored
    features_bytes_per_photo: float = 0.0
    features_ms_per_photo: float = 0.0  # extra indexing time per photo (extraction)


def summarize(c: Collection) -> CollectionSummary:
    """What `collection show`, `list` and the window tell about ``c``."""
    with closing(c.library.connect()) as conn:
        indexed, without_gps, skipped, total = catalogue.counts(conn, c.id)
        missing = catalogue.missing_roots(conn, c.id)
        state = catalogue.index_note(conn, c.id)
    kind_used = state["index_kind_used"] if state else "flat"
    flat_reason = None
    reason = conversion.kind_reason(c.index_kind, kind_used, indexed)
    if kind_used == "flat" and c.index_kind != "flat":
        flat_reason = (
            conversion.flat_reason(c.index_kind, c.descriptor_dim, c.index_params, indexed)
            or (state["index_note"] if state else None)
            or f"it has enough photos and converts to "
            f"{conversion.trained_kind(c.index_kind)} at the next add or update"
        )
        reason = flat_reason
    return CollectionSummary(
        name=c.name,
        model_label=c.model_label,
        model_random_init=c.model_random_init,
        indexed=indexed,
        without_gps=without_gps,
        skipped=skipped,
        total=total,
        model_path=str(c.model_path),
        model_sha256=c.model_sha256,
        index_kind=c.index_kind,
        created=c.created,
        index_kind_used=kind_used,
        index_recall_at_10=state["index_recall_at_10"] if state else None,
        index_flat_reason=flat_reason,
        index_reason=reason,
        index_settings=describe(kind_used, c.descriptor_dim, c.index_params)
        if kind_used != "flat"
        else "",
        missing_folders=missing,
        local_features=c.local_features,
        **_features_summary(c),
    )


def _features_summary(c: Collection) -> dict[str, float]:
    with closing(c.library.connect()) as conn:
        live = catalogue.live_indexed(conn, c.id)
    stats = c.features().stats(live)
    return {
        "features_photos": stats.photos,
        "features_bytes_per_photo": stats.bytes_per_photo,
        "features_ms_per_photo": stats.extract_ms_per_photo,
    }
