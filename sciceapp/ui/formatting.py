"""How numbers reach the user: coordinates, distances, confidences, verification."""

from __future__ import annotations


def format_latlon(lat: float | None, lon: float | None) -> str:
    """``43.46712, 11.87915`` (five decimals: about a metre); empty when unknown."""
    if lat is None or lon is None:
        return ""
    return f"{lat:.5f}, {lon:.5f}"


def format_distance(distance_m: float | None) -> str:
    if distance_m is None:
        return ""
    if distance_m < 1000:
        return f"{distance_m:.0f} m"
    if distance_m < 100_000:
        return f"{distance_m / 1000:.1f} km"
    return f"{distance_m / 1000:,.0f} km"


def format_confidence(confidence: float | None) -> str:
    if confidence is None:
        return ""
    return f"{100 * confidence:.0f} %"


VERIFIED_BADGE = "\u2714 verified"


def format_verification(inliers: int | None, verified: bool) -> str:
    """``✔ verified, 57 inliers`` / ``not verified, 12 inliers``; empty when not checked."""
    if inliers is None:
        return ""
    noun = "inlier" if inliers == 1 else "inliers"
    return f"{VERIFIED_BADGE if verified else 'not verified'}, {inliers} {noun}"


def format_bytes(n_bytes: int) -> str:
    """``0 bytes``, ``840 KB``, ``12.3 MB``, ``1.2 GB`` (powers of 1000, as file managers)."""
    if n_bytes < 1000:
        return f"{n_bytes} bytes"
    exponent = min(3, (len(str(int(n_bytes))) - 1) // 3)
    value = n_bytes / 1000**exponent
    unit = ("KB", "MB", "GB")[exponent - 1]
    return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
