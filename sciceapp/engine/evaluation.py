"""Recall@N on the field's standard VPR layout: descriptors -> faiss -> recalls.

One function, :func:`evaluate`, serves both training-time validation and ``sciceapp eval``.
It only needs a *describer*: a callable that turns a list of image paths into descriptors
(a PyTorch network in training, an ONNX Runtime session for exported models). Database and
query images are always described in separate calls, so a cross-image network (the teacher)
only ever mixes queries with queries. numpy and faiss only: no torch here.

Layout: ``<root>/<dataset>/images/<split>/{database,queries}/`` with the position in the
file name, ``@<utm_east>@<utm_north>@<zone>@<letter>@<lat>@<lon>@...@.jpg``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sciceapp.errors import DatasetError, ImageError
from sciceapp.progress import CancelToken, ProgressFn

log = logging.getLogger(__name__)

POSITIVE_RADIUS_M = 25.0
RECALL_VALUES = (1, 5, 10, 20)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

# describe(paths, progress, cancel) -> float32 [len(paths), D]
Describer = Callable[[Sequence[Path], "ProgressFn | None", "CancelToken | None"], np.ndarray]


@dataclass
class VprSplit:
    """One split of a VPR dataset: image paths and their UTM positions (metres)."""

    name: str
    database_paths: list[Path]
    query_paths: list[Path]
    database_utm_m: np.ndarray  # [N, 2] east, north
    query_utm_m: np.ndarray  # [Q, 2]

    def reordered_queries(self, order: Sequence[int]) -> VprSplit:
        """The same split with its queries in another order (for the batch-stability report)."""
        order = list(order)
        return VprSplit(
            self.name,
            self.database_paths,
            [self.query_paths[i] for i in order],
            self.database_utm_m,
            self.query_utm_m[order],
        )


@dataclass
class EvalResult:
    """What an evaluation found; ``to_json()`` is what ``sciceapp eval --json`` writes."""

    recalls: dict[int, float]  # N -> percentage of queries with a positive in the top N
    database_count: int
    query_count: int
    extraction_s: float
    descriptor_dim: int
    query_paths: list[Path]
    top_paths: list[list[Path]]  # per query, database paths best first
    database_descriptors: np.ndarray | None = field(default=None, repr=False)
    query_descriptors: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        return {
            "recalls": {str(n): value for n, value in self.recalls.items()},
            "database_images": self.database_count,
            "query_images": self.query_count,
            "extraction_s": self.extraction_s,
            "descriptor_dim": self.descriptor_dim,
            "queries": [
                {"query": str(q), "top": [str(p) for p in top]}
                for q, top in zip(self.query_paths, self.top_paths, strict=True)
            ],
        }

    def table(self) -> str:
        header = " | ".join(f"R@{n:<4}" for n in self.recalls)
        values = " | ".join(f"{v:6.2f}" for v in self.recalls.values())
        return f"{header}\n{values}"


def format_recalls(recalls: dict[int, float]) -> str:
    """``{1: 87.5, 5: 100.0} -> "R@1=87.50 R@5=100.00"`` (logs and one-line reports)."""
    return " ".join(f"R@{n}={value:.2f}" for n, value in recalls.items())


def utm_from_name(path: Path) -> tuple[float, float]:
    """The (east, north) UTM metres encoded in a standard VPR file name."""
    fields = path.name.split("@")
    try:
        return float(fields[1]), float(fields[2])
    except (IndexError, ValueError):
        raise DatasetError(
            f"{path} does not carry its position in its name "
            "('@<utm_east>@<utm_north>@...'); is this a standard VPR dataset folder?"
        ) from None


def list_images(folder: Path) -> list[Path]:
    """Image files directly or below ``folder``, sorted (a fixed order makes runs repeatable)."""
    if not folder.is_dir():
        raise DatasetError(f"Folder {folder} does not exist; check --dataset-root and --dataset.")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DatasetError(f"Folder {folder} holds no images.")
    return paths


def read_split(dataset_root: Path, dataset: str, split: str = "test") -> VprSplit:
    """Read ``<dataset_root>/<dataset>/images/<split>/{database,queries}``."""
    base = Path(dataset_root) / dataset / "images" / split
    database = list_images(base / "database")
    queries = list_images(base / "queries")
    return VprSplit(
        name=f"{dataset}/{split}",
        database_paths=database,
        query_paths=queries,
        database_utm_m=np.array([utm_from_name(p) for p in database], dtype=np.float64),
        query_utm_m=np.array([utm_from_name(p) for p in queries], dtype=np.float64),
    )


def positives(
    database_utm_m: np.ndarray, query_utm_m: np.ndarray, radius_m: float = POSITIVE_RADIUS_M
) -> list[np.ndarray]:
    """For each query, the indices of database images within ``radius_m`` (Euclidean, UTM).

    ``[N, 2], [Q, 2] -> Q arrays of database indices``; the boundary counts as a positive.
    """
    result = []
    for q in np.asarray(query_utm_m, dtype=np.float64):
        dist_m = np.linalg.norm(database_utm_m - q, axis=1)
        result.append(np.flatnonzero(dist_m <= radius_m))
    return result


def search(database: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact inner-product search (descriptors are L2-normalised): ``[N,D],[Q,D] -> [Q,k]``."""
    import faiss

    index = faiss.IndexFlatIP(database.shape[1])
    index.add(np.ascontiguousarray(database, dtype=np.float32))
    _, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(database)))
    return ids


def recall_at_n(
    predictions: np.ndarray, positives_per_query: list[np.ndarray], recall_values: Sequence[int]
) -> dict[int, float]:
    """Percentage of queries with at least one positive among their first N predictions."""
    hits = np.zeros(len(recall_values))
    for preds, pos in zip(predictions, positives_per_query, strict=True):
        for i, n in enumerate(recall_values):
            if np.isin(preds[:n], pos).any():
                hits[i:] += 1
                break
    count = max(len(positives_per_query), 1)
    return {int(n): float(100.0 * h / count) for n, h in zip(recall_values, hits, strict=True)}


class Pca:
    """PCA to ``dim`` dimensions (faiss), fitted on training descriptors, then re-normalised."""

    def __init__(self, train_descriptors: np.ndarray, dim: int) -> None:
        import faiss

        train = np.ascontiguousarray(train_descriptors, dtype=np.float32)
        if dim > min(train.shape):
            raise DatasetError(
                f"PCA to {dim} dimensions needs at least {dim} training images and descriptors "
                f"of at least {dim} values; got {train.shape[0]} images of {train.shape[1]}. "
                "Use a smaller --pca-dim or a larger --pca-folder."
            )
        self.dim = dim
        self._matrix = faiss.PCAMatrix(train.shape[1], dim)
        self._matrix.train(train)

    def apply(self, descriptors: np.ndarray) -> np.ndarray:
        """``[N, D] -> [N, dim]``, L2-normalised."""
        out = self._matrix.apply(np.ascontiguousarray(descriptors, dtype=np.float32))
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def evaluate(
    describe: Describer,
    split: VprSplit,
    recall_values: Sequence[int] = RECALL_VALUES,
    radius_m: float = POSITIVE_RADIUS_M,
    pca: Pca | None = None,
    database_descriptors: np.ndarray | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> EvalResult:
    """Describe the database and the queries, search exactly, and compute Recall@N.

    ``database_descriptors`` (``[N, D]``) skips describing the database again when only the
    queries change (the batch-stability report).
    """
    recall_values = sorted({int(n) for n in recall_values})
    start = time.perf_counter()
    if database_descriptors is None:
        database_descriptors = np.asarray(describe(split.database_paths, progress, cancel))
    query_descriptors = np.asarray(describe(split.query_paths, progress, cancel))
    extraction_s = time.perf_counter() - start
    db, qs = database_descriptors, query_descriptors
    if pca is not None:
        db, qs = pca.apply(db), pca.apply(qs)
    predictions = search(db, qs, max(recall_values))
    pos = positives(split.database_utm_m, split.query_utm_m, radius_m)
    recalls = recall_at_n(predictions, pos, recall_values)
    log.info("%s: %s", split.name, format_recalls(recalls))
    return EvalResult(
        recalls=recalls,
        database_count=len(split.database_paths),
        query_count=len(split.query_paths),
        extraction_s=extraction_s,
        descriptor_dim=int(db.shape[1]),
        query_paths=list(split.query_paths),
        top_paths=[[split.database_paths[i] for i in row if i >= 0] for row in predictions],
        database_descriptors=database_descriptors,
        query_descriptors=query_descriptors,
    )


def onnx_describer(model_path: Path, batch_size: int = 16, provider: str = "auto") -> Describer:
    """A describer running an exported ONNX model through the engine's embedder.

    Images go through the same loader the app uses (``load_for_model``), so the numbers are
    the ones the app will see. The embedder is created once and reused.
    """
    from sciceapp.engine.images import load_for_model
    from sciceapp.engine.onnx_model import Embedder

    embedder = Embedder(model_path, provider=provider)
    info = embedder.info

    def _load(path: Path) -> np.ndarray:
        try:
            return load_for_model(path, info.image_size, info.mean, info.std)
        except ImageError as exc:
            # Skipping it would change the protocol's numbers, so stop and name the file.
            raise ImageError(f"Cannot read {path}: {exc}. Remove or replace the file.") from exc

    def describe(
        paths: Sequence[Path],
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> np.ndarray:
        out = []
        for start in range(0, len(paths), batch_size):
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = paths[start : start + batch_size]
            images = np.stack([_load(p) for p in chunk])
            out.append(embedder.embed(images))
            if progress is not None:
                progress(start + len(chunk), len(paths), "describing images")
        return np.concatenate(out).astype(np.float32, copy=False)

    describe.info = info  # type: ignore[attr-defined]
    return describe
