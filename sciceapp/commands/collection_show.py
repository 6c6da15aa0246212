"""`sciceapp collection list|show`: every collection with its counts, and one collection in
full: its model, index (kind in use, why, measured recall), local features, missing folders
and skipped files; as text or JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sciceapp.commands.collection import library


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``collection list|show``."""
    listing = sub.add_parser("list", help="every collection with its counts")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)

    show = sub.add_parser("show", help="counts, model and skipped files of one collection")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)


def _summary_dict(summary: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(summary)


def _list(args: argparse.Namespace) -> int:
    summaries = library(args).list_collections()
    if args.json:
        print(json.dumps([_summary_dict(s) for s in summaries], indent=2))
        return 0
    if not summaries:
        print("No collections yet (create one with `sciceapp collection create NAME --model M`).")
    for s in summaries:
        print(
            f"{s.name}: {s.indexed} indexed ({s.without_gps} without GPS), {s.skipped} skipped"
            f" - {s.model_label}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    collection = library(args).open_collection(args.name)
    summary = collection.summary()
    skipped = [(p.path, p.skip_reason) for p in collection.photos(state="skipped")]
    if args.json:
        data = _summary_dict(summary)
        data["skipped_files"] = [{"path": path, "reason": reason} for path, reason in skipped]
        print(json.dumps(data, indent=2))
        return 0
    print(f"Collection: {summary.name} (created {summary.created})")
    print(f"Model:      {summary.model_label}")
    print(f"            {summary.model_path} (sha256 {summary.model_sha256[:16]}...)")
    if summary.model_random_init:
        print("Warning:    this model has random weights: results are a demo, not accurate.")
    print(f"Index:      {_index_text(summary)}")
    print(f"Features:   {_features_text(summary)}")
    print(
        f"Photos:     {summary.indexed} indexed, {summary.without_gps} of them without GPS "
        "(they match but cannot vote for a location)"
    )
    for folder in summary.missing_folders:
        print(f"Folder:     {folder} (folder not found at the last update; its photos are kept)")
    print(f"Skipped:    {summary.skipped}")
    for path, reason in skipped:
        print(f"  {path}: {reason}")
    return 0


def _features_text(summary: Any) -> str:
    if not summary.local_features:
        return (
            "off: matches are not verified (`sciceapp collection update NAME --local-features "
            "on` adds them without re-embedding)"
        )
    return (
        f"on, {summary.features_photos} of {summary.indexed} photos; "
        f"{summary.features_bytes_per_photo / 1024:.0f} KB per photo, "
        f"{summary.features_ms_per_photo:.0f} ms extra indexing time per photo"
    )


def _index_text(summary: Any) -> str:
    exact = "flat (exact inner-product search over the stored descriptors)"
    if summary.index_kind == "flat":
        return f"{exact}, as chosen"
    if summary.index_kind_used == "flat":
        return f"{summary.index_kind} requested, {exact} in use: {summary.index_flat_reason}"
    recall = summary.index_recall_at_10
    measured = f"{recall:.3f}" if recall is not None else "not measured"
    what = (
        f"{summary.index_settings}, re-ranked exactly with the stored descriptors"
        if summary.index_kind_used == "twostage"
        else f"compressed: {summary.index_settings}"
    )
    return (
        f"{summary.index_kind_used} ({what}), {summary.index_reason}; recall@10 against exact "
        f"search {measured}, measured on this collection's own photos when it converted"
    )
