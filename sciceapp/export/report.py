"""What every command that writes a model file reports about it (``model export``, ``model get``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from sciceapp.engine.download import sha256_file


@dataclass
class ModelFileReport:
    """The written file and the network in it; commands add what they know besides."""

    output: Path
    sha256: str
    size_bytes: int
    variant: str
    label: str
    precision: str
    descriptor_dim: int

    def to_json(self) -> dict:
        """The fields as JSON values (paths as strings)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def file_fields(path: Path) -> dict[str, object]:
    """``output``, ``sha256`` and ``size_bytes`` of a finished model file."""
    return {"output": path, "sha256": sha256_file(path), "size_bytes": path.stat().st_size}
