"""The classical, training-free model kind: RootSIFT-VLAD, no network, no download, no torch.

A photo's global descriptor is the VLAD (``vlad.py``) of its RootSIFT local features
(``local_features.py``, the same extraction verification uses) over a vocabulary of
``clusters`` words learned from the collection's own photos.

How a collection gets its vocabulary (and why its fingerprint binds the collection):

1. ``collection create --model classical`` binds the collection to the *spec* (this
   module's :class:`ClassicalSpec`; the model path is the name ``classical`` and the
   fingerprint the SHA-256 of the spec's JSON). No file, no descriptor yet.
2. The first add or update that has photos to describe first learns the vocabulary: up to
   ``vocabulary_photos`` of them, evenly spread over the run, give up to
   ``descriptors_per_photo`` RootSIFT descriptors each; k-means (seeded) makes the words. The
   vocabulary is written atomically to ``vocabulary-<sha12>.npz`` in the collection's folder,
   and only then does the catalogue switch the collection's model to that file and its
   SHA-256, in one transaction, before any photo row exists. A crash before the switch leaves
   an unused file (removed by the next attempt), never a photo described with another
   vocabulary; a tampered or replaced file fails the fingerprint check like an ONNX model.
3. Later adds and updates reuse the stored vocabulary. It is not relearned when the
   collection grows: photos described with different vocabularies could not be compared.
   (A collection whose first run had only a few photos is best re-created once it has its
   photos: the words then describe its scenes.)

PCA-whitening of the VLADs was measured on the shared real photos and did not help at this
size (``benchmarks/RESULTS.md``): descriptors stay at ``clusters * 128`` dimensions and a
collection may still choose the ``pca`` index kind.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sciceapp.atomic import write_bytes_atomic
from sciceapp.engine import vlad
from sciceapp.engine.images import load_upright
from sciceapp.engine.labels import CLASSICAL, CLASSICAL_LABEL
from sciceapp.engine.local_features import (
    DEFAULT_MAX_KEYPOINTS,
    DEFAULT_MAX_SIDE_PX,
    LocalFeatures,
    extract_features,
    rootsift_float,
)
from sciceapp.engine.onnx_model import ModelInfo
from sciceapp.errors import CollectionError, ImageError, ModelError
from sciceapp.progress import CancelToken, ProgressFn

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

FORMAT_VERSION = "1"
VOCABULARY_PREFIX = "vocabulary-"
BATCH_SIZE = 8


@dataclass(frozen=True)
class ClassicalSpec:
    clusters: int = 64  # 8192-D descriptors; 16 to 128 words all gave Recall@1 0.55-0.73 here
    max_keypoints: int = DEFAULT_MAX_KEYPOINTS  # the features verification uses, so that a
    max_side_px: int = DEFAULT_MAX_SIDE_PX  # collection with local features stores these
    vocabulary_photos: int = 100  # photos the words are learned from
    descriptors_per_photo: int = 400
    seed: int = 0
    format: str = FORMAT_VERSION

    @property
    def descriptor_dim(self) -> int:
        return self.clusters * 128

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()


SPEC = ClassicalSpec()


def is_classical(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names this kind: the name ``classical`` or a vocabulary file."""
    name = Path(path).name
    return str(path) == CLASSICAL or (name.startswith(VOCABULARY_PREFIX) and name.endswith(".npz"))


def _info(path: Path, sha256: str, spec: ClassicalSpec, trained_on: int | None) -> ModelInfo:
    config = asdict(spec)
    if trained_on is not None:
        config["vocabulary_learned_from_photos"] = trained_on
    return ModelInfo(
        path=path,
        sha256=sha256,
        variant="rootsift-vlad",
        label=CLASSICAL_LABEL,
        config=config,
        descriptor_dim=spec.descriptor_dim,
        image_size=spec.max_side_px,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        random_init=False,
        precision="fp32",
        exporter="sciceapp classical",
        kind=CLASSICAL,
        trained=trained_on is not None,
    )


def spec_info(spec: ClassicalSpec = SPEC) -> ModelInfo:
    """The kind before a collection has learned its vocabulary."""
    return _info(Path(CLASSICAL), spec.sha256, spec, None)


def read_vocabulary(path: str | os.PathLike[str], sha256: str) -> tuple[ModelInfo, np.ndarray]:
    """A vocabulary file -> (its model info, the words float32 ``[K, 128]``).

    Raises ``ModelError`` for a missing, damaged or foreign file.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            spec = ClassicalSpec(**json.loads(bytes(data["spec"]).decode()))
            words = np.asarray(data["words"], dtype=np.float32)
            trained_on = int(data["photos"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"{path} is not a usable classical vocabulary ({exc}); re-create the collection."
        ) from exc
    if spec.format != FORMAT_VERSION or words.shape != (spec.clusters, 128):
        raise ModelError(f"{path} is not a vocabulary this version understands.")
    if not np.isfinite(words).all():
        raise ModelError(f"{path} holds invalid numbers; re-create the collection.")
    return _info(path, sha256, spec, trained_on), words


def features_from(
    image: Image.Image, original_size: tuple[int, int], spec: ClassicalSpec = SPEC
) -> LocalFeatures:
    """A decoded upright photo -> its local features as this kind extracts them."""
    return extract_features(
        np.asarray(image),
        max_keypoints=spec.max_keypoints,
        max_side_px=spec.max_side_px,
        original_size=original_size,
    )


def features_of(data: bytes, spec: ClassicalSpec = SPEC) -> LocalFeatures:
    """A photo's bytes -> its local features (one decode)."""
    return features_from(*load_upright(data, spec.max_side_px), spec)


class ClassicalModel:
    """The pipeline's model interface (``pipeline.GlobalModel``) for RootSIFT-VLAD."""

    provider = "cpu"

    def __init__(self, info: ModelInfo, words: np.ndarray | None) -> None:
        self.info = info
        self.words = words
        self.spec = ClassicalSpec(
            **{k: v for k, v in info.config.items() if k in ClassicalSpec.__dataclass_fields__}
        )
        self.batch_size = BATCH_SIZE
        self.provider_report = f"Using the CPU: {CLASSICAL_LABEL} (OpenCV SIFT, no neural network)."

    @property
    def decode_side(self) -> int:
        return self.spec.max_side_px

    def prepare_input(self, image: Image.Image, original_size: tuple[int, int]) -> LocalFeatures:
        return features_from(image, original_size, self.spec)

    def embed_inputs(self, inputs: list[LocalFeatures]) -> np.ndarray:
        """Local features of a batch -> float32 ``[B, clusters * 128]``, unit norm."""
        if self.words is None:
            raise ModelError(
                "This collection has no vocabulary yet: add photos to it first (the first "
                "add learns the vocabulary from them)."
            )
        return np.stack([vlad.vlad(rootsift_float(f.descriptors), self.words) for f in inputs])


def learn_vocabulary(
    paths: list[Path],
    folder: Path,
    *,
    spec: ClassicalSpec = SPEC,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Learn the words from a sample of ``paths`` and write them to ``folder`` (atomically).

    Returns the vocabulary file. Raises ``CollectionError`` when the photos hold too few
    local features, ``CancelledError`` when cancelled (nothing is written then).
    """
    step = max(1, len(paths) // spec.vocabulary_photos) if paths else 1
    sample = paths[::step][: spec.vocabulary_photos]
    rng = np.random.default_rng(spec.seed)
    chunks: list[np.ndarray] = []

    def read(path: Path) -> np.ndarray | None:
        try:
            return features_of(path.read_bytes(), spec).descriptors
        except (OSError, ImageError) as exc:
            log.info("vocabulary: skipping %s (%s)", path, exc)
            return None

    workers = workers or max(2, min(8, os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vocabulary") as pool:
        for done, found in enumerate(pool.map(read, sample), start=1):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if found is not None and len(found):
                take = min(len(found), spec.descriptors_per_photo)
                chunks.append(found[rng.choice(len(found), take, replace=False)])
            if progress is not None:
                progress(done, len(sample), "learning the vocabulary")
    photos = len(chunks)
    points = rootsift_float(np.concatenate(chunks)) if chunks else np.zeros((0, 128), np.float32)
    if len(points) < spec.clusters * 4:
        raise CollectionError(
            f"The photos hold too few local features ({len(points)}) to learn the classical "
            f"model's vocabulary of {spec.clusters} words: add more (or more textured) photos."
        )
    words = vlad.kmeans(points, spec.clusters, seed=spec.seed)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        words=words,
        spec=np.frombuffer(spec.to_json().encode(), dtype=np.uint8),
        photos=np.int64(photos),
    )
    data = buffer.getvalue()
    target = folder / f"{VOCABULARY_PREFIX}{hashlib.sha256(data).hexdigest()[:12]}.npz"
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(target, data)
    log.info("learned a %d-word vocabulary from %d photos: %s", spec.clusters, photos, target)
    return target
