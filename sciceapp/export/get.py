"""``sciceapp model get``: a real model in one step, without torch.

Download the official backbone a training-free preset names (resumed, checked: tensors only,
the architecture's names and shapes), or read a local weight file (an official backbone, or
the authors' SciceVPR checkpoint), build the ONNX graph with onnx's own API
(`sciceapp.export.onnx_graph`), convert it to the precision that runs fastest here (int8 on a
CPU, fp16 on a GPU), check it, and write it into the data folder's models. The file under
the final name appears only when every step passed. A cut-off download keeps its ``.part``
and the next run resumes it; a cancel (the GUI's button, Ctrl-C, SIGTERM) leaves the data
folder as it was: the work folder, the partial download and a backbone this run downloaded
are deleted (a backbone that was there before is kept).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciceapp.atomic import replace_atomic
from sciceapp.engine.download import download, part_path, sha256_file
from sciceapp.engine.manifests import Manifest, backbone_file, find_manifest, list_manifests
from sciceapp.errors import CancelledError, ModelError
from sciceapp.export import metadata as meta
from sciceapp.export import parity
from sciceapp.export.job import Steps, work_folder
from sciceapp.export.onnx_graph import build_model
from sciceapp.export.precision import convert_checked
from sciceapp.export.report import ModelFileReport, file_fields
from sciceapp.export.weights import (
    backbone_part,
    check_backbone_file,
    read_state,
    record_accepted,
    record_path,
)
from sciceapp.model.config import SciceConfig, get_config
from sciceapp.model.layout import backbone_shapes, head_shapes, mismatch
from sciceapp.paths import models_dir
from sciceapp.progress import CancelToken, ProgressFn

log = logging.getLogger(__name__)

CHECK_IMAGES = 2


@dataclass
class GetReport(ModelFileReport):
    """What ``model get`` built, from which weight file."""

    weights: Path
    weights_sha256: str
    precision_cosine: float | None
    seconds: float


def gettable() -> list[Manifest]:
    """The models ``model get`` builds from a download alone (training-free, with a backbone)."""
    return [m for m in list_manifests() if m.training_free and m.backbone]


def _manifest(name: str) -> Manifest:
    manifest = find_manifest(name)
    if manifest is None:
        choices = ", ".join(m.name for m in list_manifests())
        raise ModelError(f"Unknown model {name!r}; choose one of: {choices}.")
    return manifest


def get_model(
    name: str,
    *,
    data_dir: Path,
    precision: str = "auto",
    url: str | None = None,
    weights: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    provider: str = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> GetReport:
    """Build the model ``name`` (a manifest) into ``output`` (default: the data folder's
    models, ``<name>-<precision>.onnx``). ``weights``: a local file instead of the download
    (an official backbone, ``.pth`` or ``.safetensors``, or for a trained preset the authors'
    SciceVPR checkpoint, which it needs). ``precision`` ``auto`` picks the fastest here."""
    started = time.perf_counter()
    manifest = _manifest(name)
    config = get_config(manifest.preset)
    if precision == "auto":
        from sciceapp.engine.providers import recommended_precision

        precision = recommended_precision(provider)
    if precision not in meta.PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(meta.PRECISIONS)}")
    steps = _Steps(progress, cancel, converting=precision != "fp32")
    folder = models_dir(Path(data_dir))
    fetched: list[Path] = []  # what this run downloaded: removed again on a cancel
    try:
        state, source = _weights(manifest, config, folder, url, weights, steps, fetched)
        target = Path(output) if output else folder / f"{manifest.name}-{precision}.onnx"
        weights_sha = sha256_file(source)
        cosine = _build(manifest, config, state, (source, weights_sha), precision, target, steps)
    except (CancelledError, KeyboardInterrupt):
        for path in fetched:
            path.unlink(missing_ok=True)
        raise
    steps.done(f"wrote {target.name}")
    return GetReport(
        **file_fields(target),
        variant=manifest.preset,
        label=manifest.label,
        precision=precision,
        descriptor_dim=config.descriptor_dim,
        weights=source,
        weights_sha256=weights_sha,
        precision_cosine=cosine,
        seconds=time.perf_counter() - started,
    )


def _build(
    manifest: Manifest,
    config: SciceConfig,
    state: dict[str, np.ndarray],
    weights: tuple[Path, str],
    precision: str,
    target: Path,
    steps: _Steps,
) -> float | None:
    """Build, check and convert the graph into ``target``; the cosine of the conversion.
    ``weights``: the file the tensors came from and its SHA-256 (recorded in the model)."""
    source, weights_sha = weights
    target.parent.mkdir(parents=True, exist_ok=True)
    with work_folder(target.parent) as work:  # a killed run's is removed first
        steps.next("building the ONNX graph")
        fp32 = work / "fp32.onnx"
        model = build_model(config, state)
        del state
        meta.set_metadata(model, _metadata(manifest, config, "fp32", source.name, weights_sha))
        _save(model, fp32)
        del model
        steps.next("checking the graph")
        images = parity.random_images(CHECK_IMAGES, config.image_size, manifest.mean, manifest.std)
        reference = _checked_run(fp32, images, config.descriptor_dim)
        final, cosine = fp32, None
        if precision != "fp32":
            steps.next(f"converting to {precision}")
            final = work / f"{precision}.onnx"
            cosine = convert_checked(precision, fp32, final, images, reference)
            meta.write_metadata(
                final, _metadata(manifest, config, precision, source.name, weights_sha)
            )
        steps.next("writing the model file")
        replace_atomic(final, target)
    from sciceapp.export.inspect import check_model_file

    check_model_file(target)
    return cosine


def _weights(
    manifest: Manifest,
    config: SciceConfig,
    folder: Path,
    url: str | None,
    weights: str | os.PathLike[str] | None,
    steps: _Steps,
    fetched: list[Path],
) -> tuple[dict[str, np.ndarray], Path]:
    """The checked tensors the graph is built from, and the file they came from. The files
    this call creates (the download's part, file and record) are appended to ``fetched``."""
    if weights is not None:
        steps.next(f"reading {Path(weights).name}")
        return _local_weights(manifest, config, Path(weights)), Path(weights)
    if not (manifest.training_free and manifest.backbone):
        raise ModelError(
            f"{manifest.name} has trained parts that no download provides: give its "
            "checkpoint (--checkpoint FILE, e.g. the authors' release)."
        )
    steps.next(f"downloading {manifest.backbone}")
    official = backbone_file(manifest.backbone)
    address = url or official.url
    name = official.filename
    if address.lower().endswith(".safetensors"):
        name = name.removesuffix(".pth") + ".safetensors"
    checked: dict[str, dict[str, np.ndarray]] = {}

    def check(path: Path) -> None:
        checked["state"] = check_backbone_file(path, manifest.backbone)

    sha256 = official.sha256 if not url else None
    size = official.size_bytes if not url else None
    dest = folder / name
    fetched += [p for p in (dest, record_path(dest)) if not p.exists()] + [part_path(dest)]
    path = download(
        dest=dest, url=address, sha256=sha256, size=size, progress=steps.bytes_progress,
        cancel=steps.cancel, check=check,
    )  # fmt: skip
    record_accepted(path, url=address, checked=f"names and shapes of {manifest.backbone}")
    return checked["state"], path


def _local_weights(manifest: Manifest, config: SciceConfig, path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        from sciceapp.errors import WeightsMissingError

        raise WeightsMissingError(f"Weight file {path} does not exist; check the path.")
    state = read_state(path)
    backbone = backbone_part(state)
    problem = mismatch(backbone_shapes(config.backbone), backbone, source=path.name)
    if problem:
        raise ModelError(f"{problem}: it does not fit {manifest.name}.")
    if config.architecture == "dinov2-gem":
        return backbone
    head = {k: v for k, v in state.items() if not k.startswith("backbone.")}
    problem = mismatch(head_shapes(config), head, source=path.name)
    if problem:
        raise ModelError(f"{problem}: it is not a {manifest.label} student checkpoint.")
    return {**{f"backbone.dino_model.{k}": v for k, v in backbone.items()}, **head}


def _metadata(
    manifest: Manifest, config: SciceConfig, precision: str, weights_name: str, sha: str
) -> dict[str, str]:
    import onnx

    from sciceapp import __version__

    return meta.build_metadata(
        variant=manifest.preset,
        label=manifest.label,
        config=config.to_dict(),
        descriptor_dim=config.descriptor_dim,
        image_size=config.image_size,
        mean=manifest.mean,
        std=manifest.std,
        random_init=False,
        precision=precision,
        weights_sha256={weights_name: sha},
        exporter=f"sciceapp {__version__}, torch-free builder (onnx {onnx.__version__})",
    )


def _save(model: object, path: Path) -> None:
    import onnx

    onnx.save(model, str(path))


def _checked_run(path: Path, images: np.ndarray, dim: int | None) -> np.ndarray:
    """Descriptors of ``images``; ``ModelError`` unless finite unit vectors of ``dim``."""
    out = parity.run_onnx(path, images, batch_size=len(images))
    norms = np.linalg.norm(out, axis=1)
    if (dim is not None and out.shape[1] != dim) or not np.isfinite(out).all():
        raise ModelError(f"The built graph gives descriptors of shape {out.shape}, not [B, {dim}].")
    if np.abs(norms - 1).max() > 1e-2:
        raise ModelError("The built graph's descriptors are not unit length: a bug, please report.")
    return out


class _Steps(Steps):
    """The export's numbered steps, plus byte counts while downloading."""

    def __init__(self, progress: ProgressFn | None, cancel: CancelToken | None, converting: bool):
        super().__init__(total=4 + converting, progress=progress, cancel=cancel)
        self.message = ""

    def next(self, message: str) -> None:
        self.message = f"[{self.count + 1}/{self.total}] {message}"
        super().next(self.message)

    def bytes_progress(self, done: int, total: int | None, message: str = "") -> None:
        if self.progress is not None:
            self.progress(done, total, f"{self.message} (bytes)")
