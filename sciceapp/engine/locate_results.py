"""What locating a photo gives: its ranked matches (``Match``), the vote among them
(``Consensus``) and the whole answer for one query (``LocateResult``, with the JSON form the
CLI prints and the GUI's jobs hand back). How the vote is made is ``locate.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sciceapp.engine.geo import LatLon


@dataclass
class Match:
    """One reference photo found for a query; ``lat``/``lon`` are None without GPS."""

    path: str
    score: float
    lat: float | None
    lon: float | None
    photo_id: int | None = None
    inliers: int | None = None  # geometrically verified correspondences; None: not verified
    verified: bool = False  # inliers reached the verification threshold
    place: str | None = None  # "town, region, country" nearest its GPS (engine.places)

    @property
    def has_gps(self) -> bool:
        return self.lat is not None and self.lon is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "score": self.score,
            "lat": self.lat,
            "lon": self.lon,
            "inliers": self.inliers,
            "verified": self.verified,
            "place": self.place,
        }


@dataclass
class Consensus:
    """The vote of the geotagged matches: where, how sure, and who agreed."""

    predicted: LatLon | None
    confidence: float
    cluster: list[int] = field(default_factory=list)  # indices into the matches list


@dataclass
class LocateResult:
    """The answer for one query photo; ``error`` says why it could not be processed."""

    query: str
    predicted: LatLon | None = None
    confidence: float = 0.0
    matches: list[Match] = field(default_factory=list)
    query_gps: LatLon | None = None
    error_m: float | None = None
    error: str | None = None
    cluster: list[int] = field(default_factory=list)  # indices of the matches that agreed
    query_gps_reason: str | None = None  # why the query has no GPS of its own (from EXIF)
    verified: bool = False  # the prediction rests on at least one verified match
    place: str | None = None  # the prediction's nearest place name (engine.places)
    query_place: str | None = None  # the query's own GPS position's place name
    in_collection: bool = False  # the query is itself a reference photo, left out of its matches

    def to_json(self) -> dict[str, Any]:
        """Plain JSON; the key ``error`` is added only for a query that failed."""
        out: dict[str, Any] = {
            "query": self.query,
            "predicted": _point_json(self.predicted),
            "confidence": self.confidence,
            "matches": [m.to_json() for m in self.matches],
            "query_gps": _point_json(self.query_gps),
            "error_m": self.error_m,
            "verified": self.verified,
            "place": self.place,
            "query_place": self.query_place,
            "in_collection": self.in_collection,
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LocateResult:
        """Read back what :meth:`to_json` wrote (``ValueError`` if it is not that shape)."""
        try:
            return cls(
                query=str(data["query"]),
                predicted=_point_from_json(data["predicted"]),
                confidence=float(data["confidence"]),
                matches=[
                    Match(
                        str(m["path"]),
                        float(m["score"]),
                        _opt_float(m["lat"]),
                        _opt_float(m["lon"]),
                        inliers=None if m.get("inliers") is None else int(m["inliers"]),
                        verified=bool(m.get("verified", False)),
                        place=m.get("place"),
                    )
                    for m in data["matches"]
                ],
                query_gps=_point_from_json(data["query_gps"]),
                error_m=_opt_float(data["error_m"]),
                error=data.get("error"),
                verified=bool(data.get("verified", False)),
                place=data.get("place"),
                query_place=data.get("query_place"),
                in_collection=bool(data.get("in_collection", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a locate result: {exc!r}") from exc


def _point_json(point: LatLon | None) -> dict[str, float] | None:
    return None if point is None else {"lat": point[0], "lon": point[1]}


def _point_from_json(value: Any) -> LatLon | None:
    return None if value is None else (float(value["lat"]), float(value["lon"]))


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
