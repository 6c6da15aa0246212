"""Images per second of the SciceVPR student: PyTorch eager vs ONNX Runtime and OpenVINO paths.

Builds the network with random weights (speed does not depend on their values), exports it
once with ``sciceapp.export``, converts the export to fp16 and int8, then times every engine
on the same random images in this one run and prints a Markdown table: images/s, the ratio
to PyTorch eager at the same batch size, and the minimum cosine similarity of each engine's
descriptors to the ONNX Runtime fp32 ones.

On the CPU it also times PyTorch in bf16 (autocast, and weights converted to bf16), the
OpenVINO paths the app can choose (fp32, int8 on the int8 file, bf16 where the CPU has native
bf16; needs ``sciceapp[openvino]``) and the path the app itself chooses: the engine's
calibration (``sciceapp.engine.calibration``) runs first on real photos and its choice is
timed beside the others. With ``--photos`` (default: ``../shared/data/places/sacre_coeur``)
the timed batches are those real photos, so every cosine is on real photos.

    python benchmarks/bench_model.py                         # CPU, batch 1 and 8
    python benchmarks/bench_model.py --provider cuda --batch-sizes 64

On CUDA, fp32 is timed twice per engine, with TF32 matrix products and without: ONNX Runtime's
CUDA provider uses TF32 unless told otherwise, PyTorch does not. ``run_on_gpu.sh`` beside this
script installs onnxruntime-gpu on a CUDA machine and runs the GPU benchmarks.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sciceapp.export import export_onnx, parity
from sciceapp.export.precision import to_fp16, to_int8

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
ORT_LEVELS = {
    "all": lambda ort: ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "basic": lambda ort: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "none": lambda ort: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}


@dataclass
class Row:
    engine: str
    precision: str
    batch_size: int
    images_per_s: float
    min_cosine: float | None
    size_mb: float | None = None


def add_engine_arguments(parser: argparse.ArgumentParser, batch_sizes: list[int]) -> None:
    """The options of how engines are built and timed (shared with bench_opset.py)."""
    parser.add_argument("--preset", default="scicevpr-b")
    parser.add_argument("--provider", choices=sorted(PROVIDERS), default="cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=batch_sizes)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per cell")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads")
    parser.add_argument(
        "--pause",
        type=float,
        help="seconds idle before each call (default: 0.5 on the CPU, 0 on CUDA), so that the "
        "previous engine's worker threads have stopped spinning (see time_round_robin)",
    )
    parser.add_argument("--workdir", help="keep the ONNX files here (default: a temp folder)")


def check_engine_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.pause is None:
        args.pause = 0.0 if args.provider == "cuda" else 0.5
    if "fp32" not in args.precisions:
        parser.error("--precisions must include fp32: it is the reference for every cosine")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_engine_arguments(parser, batch_sizes=[1, 8])
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=["fp32", "fp16", "int8"],
        help="default: fp32 fp16 int8 on the CPU; fp32 fp16 on CUDA, where ONNX Runtime has "
        "no kernels for the dynamically quantised operators and would run them on the CPU",
    )
    parser.add_argument(
        "--photos",
        default=str(Path(__file__).resolve().parents[2] / "shared/data/places/sacre_coeur"),
        help="folder of real photos for the timed batches ('' for random images)",
    )
    parser.add_argument(
        "--no-app", action="store_true", help="skip the app's own calibration and its choice"
    )
    parser.add_argument(
        "--backbone-weights",
        metavar="DINOV2.pth",
        help="a DINOv2 backbone file in the official layout (e.g. random weights written by "
        "tests/export/official_files.py) for the network, instead of the default random init",
    )
    parser.add_argument(
        "--no-bf16",
        action="store_true",
        help="skip the PyTorch bf16 rows (emulated, 4-5x slower than fp32, on a CPU without "
        "native bf16)",
    )
    parser.add_argument(
        "--ort-variants",
        action="store_true",
        help="also time ONNX Runtime fp32 with spinning off, 1 thread, basic optimisation",
    )
    args = parser.parse_args(argv)
    if args.precisions is None:
        args.precisions = ["fp32", "fp16"] if args.provider == "cuda" else ["fp32", "fp16", "int8"]
    check_engine_arguments(parser, args)
    return args


def time_round_robin(engines: list, images: np.ndarray, args) -> list[float]:
    """Images/s per engine: median of ``args.repeats`` timed calls after ``args.warmup``.

    The engines take turns (one call each per round), so background load on a shared
    machine falls on all of them alike instead of on whichever ran during a busy minute.
    Taking turns has a trap on the CPU: ONNX Runtime's and OpenMP's worker threads keep
    spinning for a while after a call returns, and on 2 cores that halves the speed of
    whatever runs next (torch.mm measured at 198 instead of 346 GFLOP/s right after an ONNX
    Runtime call, benchmarks/bench_gemm.py). ``args.pause`` seconds of idle before every call
    lets them go to sleep, so each call starts on quiet cores.
    """
    for _ in range(args.warmup):
        for engine in engines:
            engine.run(images)
    seconds: list[list[float]] = [[] for _ in engines]
    for _ in range(args.repeats):
        for index, engine in enumerate(engines):
            time.sleep(args.pause)
            start = time.perf_counter()
            engine.run(images)
            seconds[index].append(time.perf_counter() - start)
    return [len(images) / statistics.median(times) for times in seconds]


def ort_runner(
    path: Path,
    args,
    threads: int | None = None,
    spinning: bool = True,
    level: str = "all",
    tf32: bool = True,
) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort

    if args.provider == "cuda" and hasattr(ort, "preload_dlls"):
        # CUDA/cuDNN from the nvidia-* wheels, where torch did not already load them.
        ort.preload_dlls()
    options = ort.SessionOptions()
    options.graph_optimization_level = ORT_LEVELS[level](ort)
    options.intra_op_num_threads = threads or args.threads
    # Worker threads busy-wait between operators by default; on a machine shared with other
    # jobs that spinning steals the cores the next operator needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    provider: str | tuple[str, dict[str, str]] = PROVIDERS[args.provider]
    if args.provider == "cuda":
        # ONNX Runtime's CUDA provider multiplies fp32 on the tensor cores in TF32 unless told
        # otherwise; PyTorch does not. Both modes are timed, each next to its PyTorch twin.
        provider = (PROVIDERS["cuda"], {"use_tf32": "1" if tf32 else "0"})
    providers = [provider] if args.provider == "cpu" else [provider, "CPUExecutionProvider"]
    session = ort.InferenceSession(str(path), options, providers=providers)
    if session.get_providers()[0] != PROVIDERS[args.provider]:
        raise SystemExit(f"{PROVIDERS[args.provider]} is not available: {session.get_providers()}")
    return lambda images: session.run(["descriptors"], {"images": images})[0]


def torch_runner(
    args, half: bool = False, tf32: bool = False, bf16: str = ""
) -> Callable[[np.ndarray], np.ndarray]:
    """``bf16``: "" (no), "autocast" (fp32 weights, bf16 matrix products) or "weights"."""
    import torch

    from sciceapp import model

    network = model.build(args.preset, teacher=False, seed=0).eval()
    if args.backbone_weights:
        model.load_checkpoint(network, args.backbone_weights)
    device = "cuda" if args.provider == "cuda" else "cpu"
    network = network.to(device)
    if half:
        network = network.half()
    if bf16 == "weights":
        network = network.to(torch.bfloat16)
    if bf16:
        autocast = bf16 == "autocast"

        def run_bf16(images: np.ndarray) -> np.ndarray:
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=autocast):
                batch = torch.from_numpy(images)
                out = network(batch if autocast else batch.to(torch.bfloat16))
                return out.float().numpy()

        return run_bf16

    def run(images: np.ndarray) -> np.ndarray:
        # TF32 for the matrix products and the convolutions alike, or for neither.
        flags = (torch.backends.cuda.matmul, torch.backends.cudnn)
        saved = [flag.allow_tf32 for flag in flags]
        for flag in flags:
            flag.allow_tf32 = tf32
        try:
            with torch.inference_mode():
                batch = torch.from_numpy(images).to(device)
                out = network(batch.half() if half else batch)
                return out.float().cpu().numpy()
        finally:
            for flag, value in zip(flags, saved, strict=True):
                flag.allow_tf32 = value

    return run


@contextlib.contextmanager
def work_folder(args) -> Iterator[Path]:
    """``args.workdir`` (kept afterwards) or a temporary folder; sets torch's threads first."""
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        yield work


LOAD_BEFORE = ""


def main(argv: list[str] | None = None) -> int:
    global LOAD_BEFORE
    LOAD_BEFORE = f"{os.getloadavg()[0]:.2f}"
    args = parse_args(argv)
    import onnxruntime as ort
    import torch

    with work_folder(args) as work:
        started = time.perf_counter()
        report = export_onnx(
            work / "fp32.onnx",
            preset=args.preset,
            backbone_weights=args.backbone_weights,
            random_init=True,
            seed=0,
        )
        paths = {"fp32": report.output}
        converters = {"fp16": to_fp16, "int8": to_int8}
        for precision in args.precisions:
            if precision != "fp32":
                paths[precision] = work / f"{precision}.onnx"
                converters[precision](report.output, paths[precision])
        print(f"export + conversions: {time.perf_counter() - started:.0f} s", file=sys.stderr)
        rows = measure(args, engines_for(args, paths), report.image_size)
    print_table(args, rows, ort.__version__, torch.__version__)
    return 0


@dataclass
class Engine:
    name: str
    precision: str
    run: Callable[[np.ndarray], np.ndarray]
    size_mb: float | None = None


def engines_for(args, paths: dict[str, Path]) -> list[Engine]:
    engines = [Engine("PyTorch eager", "fp32", torch_runner(args))]
    ort_name = f"ONNX Runtime {args.provider.upper()}"
    if args.provider == "cuda":
        # The strict fp32 ORT run comes first: it is the reference for every cosine.
        strict = ort_runner(paths["fp32"], args, tf32=False)
        size_mb = paths["fp32"].stat().st_size / 1e6
        engines += [
            Engine(f"{ort_name}, TF32 off", "fp32", strict, size_mb),
            Engine("PyTorch eager, TF32 on", "fp32", torch_runner(args, tf32=True)),
            Engine("PyTorch eager", "fp16", torch_runner(args, half=True)),
        ]
    for precision, path in paths.items():
        size_mb = path.stat().st_size / 1e6
        engines.append(Engine(ort_name, precision, ort_runner(path, args), size_mb))
    if args.provider == "cpu":
        engines += cpu_paths(args, paths)
    if args.ort_variants and args.provider == "cpu":
        fp32 = paths["fp32"]
        engines += [
            Engine(f"{ort_name}, spinning off", "fp32", ort_runner(fp32, args, spinning=False)),
            Engine(f"{ort_name}, 1 thread", "fp32", ort_runner(fp32, args, threads=1)),
            Engine(f"{ort_name}, basic opt.", "fp32", ort_runner(fp32, args, level="basic")),
        ]
        if "int8" in paths:
            run = ort_runner(paths["int8"], args, spinning=False)
            engines.append(Engine(f"{ort_name}, spinning off", "int8", run))
    return engines


def cpu_paths(args, paths: dict[str, Path]) -> list[Engine]:
    """PyTorch bf16, OpenVINO's paths, and the app's own calibrated choice."""
    from sciceapp.engine import runtimes

    engines = []
    if not args.no_bf16:
        engines += [
            Engine("PyTorch, bf16 autocast", "bf16", torch_runner(args, bf16="autocast")),
            Engine("PyTorch, bf16 weights", "bf16", torch_runner(args, bf16="weights")),
        ]
    for candidate in runtimes.candidates_for("fp32"):
        if candidate.runtime != runtimes.OPENVINO:
            continue
        why = runtimes.problem(candidate, None if "int8" in paths else "no int8 file")
        if why:
            print(f"{candidate.name}: not timed, {why}", file=sys.stderr)
            continue
        path = paths["int8"] if candidate.int8_copy else paths["fp32"]
        run = runtimes.open_runner(candidate, path, threads=args.threads, spin=False)
        engines.append(Engine("OpenVINO CPU", candidate.precision, run))
    if not args.no_app:
        engines.append(app_choice(args, paths["fp32"]))
    return engines


def app_choice(args, model: Path) -> Engine:
    """What the app runs on this machine: calibrate on real photos, then time its choice."""
    from sciceapp.engine import calibration
    from sciceapp.engine.onnx_model import read_model_info

    info = read_model_info(model)
    images, _ = calibration.calibration_images(info, sorted(Path(args.photos).glob("*.jpg")))
    started = time.perf_counter()
    record, runners = calibration.calibrate(info, images, model.parent, threads=args.threads)
    print(
        f"app calibration: {time.perf_counter() - started:.0f} s\n" + "\n".join(record.lines()),
        file=sys.stderr,
    )
    return Engine(f"sciceapp's choice: {record.chosen}", "", runners[record.chosen])


def batch_of(args, batch_size: int, image_size: int) -> np.ndarray:
    """``batch_size`` real photos (repeated when there are fewer), or random images."""
    if not args.photos:
        return parity.random_images(
            batch_size, image_size, parity.IMAGENET_MEAN, parity.IMAGENET_STD
        )
    from sciceapp.engine.images import load_for_model

    files = sorted(Path(args.photos).glob("*.jpg"))
    files = (files * (batch_size // len(files) + 1))[:batch_size]
    mean, std = parity.IMAGENET_MEAN, parity.IMAGENET_STD
    return np.stack([load_for_model(f, image_size, mean, std) for f in files])


def measure(args, engines: list[Engine], image_size: int) -> list[Row]:
    reference = next(e for e in engines if e.name.startswith("ONNX") and e.precision == "fp32")
    rows = []
    for batch_size in args.batch_sizes:
        images = batch_of(args, batch_size, image_size)
        expected = reference.run(images)
        cosines = [parity.compare(expected, e.run(images)).min_cosine for e in engines]
        print(f"timing batch {batch_size}", file=sys.stderr, flush=True)
        speeds = time_round_robin(engines, images, args)
        for engine, speed, cosine in zip(engines, speeds, cosines, strict=True):
            rows.append(
                Row(engine.name, engine.precision, batch_size, speed, cosine, engine.size_mb)
            )
    return rows


def weights_label(args) -> str:
    """What the network's weights are, for the table: always random here, say which kind."""
    if args.backbone_weights:
        return f"random weights in the official DINOv2 layout ({Path(args.backbone_weights).name})"
    return "random weights"


def print_table(args, rows: list[Row], ort_version: str, torch_version: str) -> None:
    device = ""
    if args.provider == "cuda":
        import torch

        device = f"{torch.cuda.get_device_name()}; "
    print(
        f"preset {args.preset}, {weights_label(args)}; {device}"
        f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {args.threads} threads; provider {args.provider}; "
        f"onnxruntime {ort_version}, torch {torch_version}; median of {args.repeats} runs "
        f"after {args.warmup} warm-up, {args.pause:g} s idle before each; "
        f"images: {args.photos or 'random'}; load average before/after: {LOAD_BEFORE} / "
        f"{os.getloadavg()[0]:.2f}"
    )
    if args.provider == "cpu":
        from sciceapp.engine import runtimes

        cpu = runtimes.cpu_description()
        print(
            f"\nCPU: {cpu['name']}; features: {' '.join(cpu['flags'])}; {runtimes.runtime_versions()}"
        )
    print()
    print("| engine | precision | batch | images/s | x eager | min cosine to ORT fp32 | file MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    eager = {
        r.batch_size: r.images_per_s
        for r in rows
        if r.engine == "PyTorch eager" and r.precision == "fp32"
    }
    for r in rows:
        ratio = r.images_per_s / eager[r.batch_size]
        size = f"{r.size_mb:.0f}" if r.size_mb is not None else ""
        print(
            f"| {r.engine} | {r.precision} | {r.batch_size} | {r.images_per_s:.2f} | "
            f"{ratio:.2f} | {r.min_cosine:.5f} | {size} |"
        )
    print()
    for batch_size in sorted(eager):
        app = [r for r in rows if r.batch_size == batch_size and r.engine.startswith("sciceapp")]
        torch_rows = [r for r in rows if r.batch_size == batch_size and "PyTorch" in r.engine]
        if app and torch_rows:
            best = max(torch_rows, key=lambda r: r.images_per_s)
            print(
                f"batch {batch_size}: {app[0].engine} / fastest PyTorch ({best.engine}, "
                f"{best.precision}) = {app[0].images_per_s / best.images_per_s:.2f}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
