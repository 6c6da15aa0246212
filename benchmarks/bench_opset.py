"""ONNX Runtime speed of the same student exported at different ONNX opsets, next to PyTorch.

The opset decides how the exporter spells two hot spots of the ViT: at 18, attention is
MatMul, Softmax and MatMul around transposes and GELU is Erf arithmetic; from 20 GELU is one
``Gelu`` node; from 23 attention is one ``Attention`` node. Every export has the same random
weights (seed 0); cosines are to the first opset's fp32 run on the same images, timings are
round robin in one run (see bench_model.py, whose engines and table this reuses).

    python benchmarks/bench_opset.py                                  # CPU, batch 8
    python benchmarks/bench_opset.py --provider cuda --batch-sizes 64 --precisions fp32 fp16
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import bench_model
import onnx

from sciceapp.export import export_onnx
from sciceapp.export.precision import to_fp16


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opsets", type=int, nargs="+", default=[18, 20, 23])
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "fp16"], default=["fp32"])
    bench_model.add_engine_arguments(parser, batch_sizes=[8])
    args = parser.parse_args(argv)
    bench_model.check_engine_arguments(parser, args)
    return args


def op_summary(path: Path) -> str:
    """The node counts that the opset changes, e.g. 'Attention 13, Gelu 13, MatMul 55'."""
    counts = collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)
    names = ("Attention", "Gelu", "Softmax", "Erf", "MatMul", "Transpose")
    return ", ".join(f"{name} {counts[name]}" for name in names if counts[name])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import onnxruntime as ort
    import torch

    with bench_model.work_folder(args) as work:
        engines = [bench_model.Engine("PyTorch eager", "fp32", bench_model.torch_runner(args))]
        if args.provider == "cuda":
            engines.append(
                bench_model.Engine("PyTorch eager", "fp16", bench_model.torch_runner(args, True))
            )
        graphs = []
        for opset in args.opsets:
            started = time.perf_counter()
            report = export_onnx(
                work / f"opset{opset}.onnx",
                preset=args.preset,
                random_init=True,
                seed=0,
                opset=opset,
            )
            paths = {"fp32": report.output}
            if "fp16" in args.precisions:
                paths["fp16"] = work / f"opset{opset}-fp16.onnx"
                to_fp16(report.output, paths["fp16"])
            seconds = time.perf_counter() - started
            graphs.append(f"opset {opset}: {op_summary(report.output)} (export {seconds:.0f} s)")
            print(graphs[-1], file=sys.stderr, flush=True)
            for precision, path in paths.items():
                size_mb = path.stat().st_size / 1e6
                run = bench_model.ort_runner(path, args)
                name = f"ONNX Runtime {args.provider.upper()}, opset {opset}"
                engines.append(bench_model.Engine(name, precision, run, size_mb))
        rows = bench_model.measure(args, engines, report.image_size)
    bench_model.print_table(args, rows, ort.__version__, torch.__version__)
    print()
    for line in graphs:
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
