"""The doctor's report: what one check found, and the checks as text.

Each check returns a ``Check``: ok, warning (works, but not as well as it could), problem
(something will fail) or skipped, with one line saying what was found and, unless ok, one line
saying what to do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK, WARNING, PROBLEM, SKIPPED = "ok", "warning", "problem", "skipped"
SEVERITY = {SKIPPED: 0, OK: 0, WARNING: 1, PROBLEM: 2}


@dataclass
class Check:
    """The outcome of one check."""

    name: str
    status: str
    summary: str
    advice: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def worst_status(checks: list[Check]) -> str:
    """``problem`` if any check found one, else ``warning`` if any warned, else ``ok``."""
    return max((c.status for c in checks), key=SEVERITY.__getitem__, default=OK)


def format_report(checks: list[Check]) -> str:
    """The checks as aligned text lines, with what to do under each non-ok one."""
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for check in checks:
        lines.append(f"{check.status:<8} {check.name:<{width}}  {check.summary}")
        if check.advice and check.status in (WARNING, PROBLEM):
            lines.append(f"{'':<8} {'':<{width}}  -> {check.advice}")
    lines.append(f"overall: {worst_status(checks)}")
    return "\n".join(lines)
