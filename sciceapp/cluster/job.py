"""``sciceapp cluster index``: photos -> Ray Data (CPU decode tasks, an actor pool of ONNX
Runtime sessions) -> Parquet shards that ``collection import`` reads.

Why Ray Data rather than our own pool: it streams between stages with backpressure (decode
runs ahead of the model without filling memory), schedules CPU tasks and GPU actors across
the machines of a cluster, restarts a worker that dies and retries what it was doing, and
shows its own progress; what we would write is a worse copy of it. The shards are written on
the driver, each as soon as its last photo arrives (the engine's ``ShardWriter``: atomic,
in the format of docs/shards.md), so a run that fails keeps every finished shard and the next
run over the same inputs writes only the missing ones (``inputs.py`` names them).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sciceapp.cluster import CPU_DECODE, SHARD_PHOTOS
from sciceapp.cluster.connection import connected
from sciceapp.cluster.inputs import ShardPlan, foreign_shards, list_inputs, plan_shards
from sciceapp.cluster.tasks import EmbedWorker, describe_batch, fixed_rows
from sciceapp.engine.onnx_model import ModelInfo, read_model_info
from sciceapp.errors import ClusterError

log = logging.getLogger(__name__)

DECODE_BATCH = 16
"""Photos per decode task: enough to amortise a task's start, few enough to keep every CPU of
a small cluster busy and the progress bars moving."""
WORKER_RESTARTS = 3
"""How often Ray restarts a worker that died (out of memory, a lost node, a driver crash in
ONNX Runtime), retrying the batch it had; past that the run fails, keeping finished shards."""


@dataclass(frozen=True)
class IndexOptions:
    workers: int | None = None  # actors; default: one per GPU (gpus_per_worker), else one
    gpus_per_worker: float = 0.0
    batch_size: int | None = None  # photos per model call; default: the desktop's for the provider
    provider: str = "auto"
    decode: str = CPU_DECODE
    shard_photos: int = SHARD_PHOTOS
    address: str | None = None  # an existing cluster; default RAY_ADDRESS, else a local Ray


@dataclass
class ClusterReport:
    photos: int = 0  # photos described by this run
    indexed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # shards this run wrote
    kept: list[str] = field(default_factory=list)  # shards already there
    foreign: list[str] = field(default_factory=list)  # other shards in the folder
    workers: set[str] = field(default_factory=set)  # how the workers ran (provider, decoding)
    seconds: float = 0.0

    @property
    def photos_per_s(self) -> float:
        return self.photos / self.seconds if self.seconds > 0 else 0.0

    def reasons(self) -> Counter[str]:
        return Counter(reason for _, reason in self.skipped)


def _default_workers(options: IndexOptions) -> int:
    import ray

    if options.workers:
        return options.workers
    if options.gpus_per_worker > 0:
        gpus = ray.cluster_resources().get("GPU", 0)
        workers = int(gpus // options.gpus_per_worker)
        if workers < 1:
            raise ClusterError(
                f"--gpus-per-worker {options.gpus_per_worker:g} asks for GPUs, but the cluster "
                f"has {gpus:g}. Use --gpus-per-worker 0 to run the model on CPUs."
            )
        return workers
    return 1


def _default_batch_size(options: IndexOptions, info: ModelInfo) -> int:
    from sciceapp.engine import providers

    if options.batch_size:
        return options.batch_size
    provider = providers.CUDA if options.gpus_per_worker > 0 else providers.CPU
    return providers.batch_size_for(provider, info.image_size)


class _ShardSink:
    """Shards filling on the driver; each one is published when its last photo arrives."""

    def __init__(self, output: Path, plans: list[ShardPlan], info: ModelInfo) -> None:
        from sciceapp.engine.shards import ShardMeta

        self.output = output
        self.expected = {plan.name: len(plan.files) for plan in plans}
        self.meta = ShardMeta(info.sha256, info.descriptor_dim, info.label)
        self.dim = info.descriptor_dim
        self.open: dict[str, object] = {}
        self.rows: Counter[str] = Counter()
        self.seen: set[str] = set()  # a batch a retry delivers twice is written once

    def add(self, table, report: ClusterReport) -> None:  # noqa: ANN001 - a pyarrow table
        from sciceapp.engine.shards import ShardRow, ShardWriter

        vectors = fixed_rows(table.column("descriptor"), self.dim)
        report.workers.update(table.column("worker").unique().to_pylist())
        rows = table.drop_columns(["descriptor", "worker"]).to_pylist()
        for row, vector in zip(rows, vectors, strict=True):
            shard, reason = row["shard"], row["reason"]
            if row["name"] in self.seen:
                continue
            self.seen.add(row["name"])
            writer = self.open.get(shard)
            if writer is None:
                writer = ShardWriter(self.output / shard, self.meta)
                writer.__enter__()
                self.open[shard] = writer
            writer.write(
                [
                    ShardRow(
                        path=row["name"],
                        size=row["size"],
                        mtime_ns=row["mtime_ns"],
                        sha256=row["sha256"],
                        lat=row["lat"],
                        lon=row["lon"],
                        alt=row["alt"],
                        taken_at=row["taken_at"],
                        gps_reason=row["gps_reason"],
                        state="skipped" if reason else "indexed",
                        reason=reason,
                        descriptor=None if reason else vector,
                    )
                ]
            )
            report.photos += 1
            if reason:
                report.skipped.append((row["name"], reason))
            else:
                report.indexed += 1
            self.rows[shard] += 1
            if self.rows[shard] == self.expected[shard]:
                self.open.pop(shard).__exit__(None, None, None)  # type: ignore[attr-defined]
                report.written.append(shard)

    def abandon(self, exc: BaseException) -> None:
        """A failed run: unfinished shards are not published (their temp files go)."""
        for writer in self.open.values():
            writer.__exit__(type(exc), exc, exc.__traceback__)  # type: ignore[attr-defined]
        self.open.clear()


def _pipeline(
    rows: list[dict],
    info: ModelInfo,
    decode: str,
    worker_class: type,
    constructor: dict,
    workers: int,
    batch_size: int,
    gpus_per_worker: float = 0.0,
):  # noqa: ANN202 - a ray.data.Dataset
    """Listing rows -> decode tasks -> model actors (a lazy Ray dataset)."""
    import ray

    blocks = max(1, -(-len(rows) // DECODE_BATCH))
    described = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
        describe_batch,
        fn_kwargs={"info": info, "decode": decode},
        batch_size=DECODE_BATCH,
        batch_format="pyarrow",
        num_cpus=1,
    )
    with warnings.catch_warnings():
        # Bounded restarts need ray_remote_args (deprecated since 2.60, with no named
        # parameter yet); Ray Data's default would restart a worker that dies on every batch
        # for ever.
        warnings.simplefilter("ignore", DeprecationWarning)
        return described.map_batches(
            worker_class,
            fn_constructor_kwargs=constructor,
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
            num_gpus=gpus_per_worker or None,
            max_restarts=WORKER_RESTARTS,
            max_task_retries=WORKER_RESTARTS,
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def index(
    model_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    inputs: list[str],
    options: IndexOptions | None = None,
    *,
    worker_class: type = EmbedWorker,
) -> ClusterReport:
    """Describe every photo under ``inputs`` with the model, into shards in ``output``.

    ``worker_class``: the actor the pool runs (``EmbedWorker``; tests give one that dies).
    """
    from sciceapp.engine import providers

    options = options or IndexOptions()
    started = time.perf_counter()
    providers.plan(
        options.provider
    )  # an unknown provider: ModelError naming the choices, before Ray
    info = read_model_info(model_path)
    output = Path(output).expanduser().absolute()
    if output.exists() and not output.is_dir():
        raise ClusterError(f"{output} is a file; --output must be a folder for the shards.")
    plans = plan_shards(list_inputs(inputs), info.sha256, options.shard_photos)
    report = ClusterReport(foreign=foreign_shards(output, plans))
    todo = [plan for plan in plans if not (output / plan.name).is_file()]
    report.kept = [plan.name for plan in plans if plan not in todo]
    if not todo:
        report.seconds = time.perf_counter() - started
        return report
    output.mkdir(parents=True, exist_ok=True)
    with connected(options.address):
        import ray

        workers = _default_workers(options)
        batch_size = _default_batch_size(options, info)
        rows = [
            {"name": f.name, "shard": plan.name, "size": f.size, "mtime_ns": f.mtime_ns}
            for plan in todo
            for f in plan.files
        ]
        model_bytes = ray.put(Path(info.path).read_bytes())
        constructor = {
            "model_path": str(info.path),
            "model_sha256": info.sha256,
            "model_bytes": model_bytes,
            "provider": options.provider,
            "decode": options.decode,
        }
        dataset = _pipeline(
            rows,
            info,
            options.decode,
            worker_class,
            constructor,
            workers,
            batch_size,
            options.gpus_per_worker,
        )
        sink = _ShardSink(output, todo, info)
        try:
            for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
                sink.add(table, report)
        except Exception as exc:  # Ray wraps a worker's failure in types of its own
            sink.abandon(exc)
            raise ClusterError(
                f"The Ray job failed: {_first_line(exc)}. The {len(report.written)} shards "
                "finished are kept; run the same command again to write the others."
            ) from exc
        except BaseException as exc:  # Ctrl-C: keep the finished shards, drop the rest
            sink.abandon(exc)
            raise
    report.seconds = time.perf_counter() - started
    return report
