"""fp32 matrix products of the ViT-B linear layers: ONNX Runtime's CPU MatMul vs torch.mm.

About three quarters of a ``scicevpr-b`` forward pass on the CPU is these four products
(qkv, attention projection, MLP in and out, with M = batch x 257 tokens), so how fast each
runtime's fp32 GEMM kernel is bounds how far one engine can get ahead of the other. Each
product runs in a one-node ONNX graph (weights as an initializer, so ONNX Runtime prepacks
them) and as ``torch.mm``, taking turns, on the same random data and the same thread count.

    python benchmarks/bench_gemm.py [--batch 8] [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from functools import partial

import numpy as np

# (name, K, N) of the ViT-B/14 block's linear layers; M = batch x 257 tokens.
LAYERS = [("qkv", 768, 2304), ("proj", 768, 768), ("mlp in", 768, 3072), ("mlp out", 3072, 768)]
TOKENS = 257


def ort_matmul(weights: np.ndarray, threads: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    k, n = weights.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "w"], ["c"])],
        "gemm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["m", k])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, ["m", n])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return lambda a: session.run(None, {"a": a})[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="images; M = batch x 257")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument(
        "--pause",
        type=float,
        default=0.3,
        help="seconds idle before each call; 0 shows how one runtime's spinning threads slow "
        "the other down",
    )
    args = parser.parse_args(argv)
    import onnxruntime as ort
    import torch

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    m = args.batch * TOKENS
    print(
        f"M = {args.batch} x {TOKENS} = {m}; {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{args.threads} threads; onnxruntime {ort.__version__}, torch {torch.__version__}; "
        f"median of {args.repeats} runs, taking turns, {args.pause:g} s idle before each"
    )
    print()
    print("| layer | K x N | ORT ms | ORT GFLOP/s | torch ms | torch GFLOP/s | ORT / torch speed |")
    print("|---|---|---:|---:|---:|---:|---:|")
    totals = [0.0, 0.0]
    for name, k, n in LAYERS:
        weights = (rng.standard_normal((k, n)) * 0.02).astype(np.float32)
        a = rng.standard_normal((m, k)).astype(np.float32)
        ort_run = ort_matmul(weights, args.threads)
        ta, tw = torch.from_numpy(a), torch.from_numpy(weights)
        runs = [partial(ort_run, a), partial(torch.mm, ta, tw)]
        np.testing.assert_allclose(ort_run(a), torch.mm(ta, tw).numpy(), rtol=1e-3, atol=1e-3)
        times: list[list[float]] = [[], []]
        for _ in range(args.repeats):
            for index, run in enumerate(runs):
                time.sleep(args.pause)
                start = time.perf_counter()
                run()
                times[index].append(time.perf_counter() - start)
        ort_s, torch_s = (statistics.median(t) for t in times)
        totals[0] += ort_s
        totals[1] += torch_s
        flop = 2 * m * k * n
        print(
            f"| {name} | {k} x {n} | {ort_s * 1e3:.1f} | {flop / ort_s / 1e9:.0f} | "
            f"{torch_s * 1e3:.1f} | {flop / torch_s / 1e9:.0f} | {torch_s / ort_s:.2f} |"
        )
    print(
        f"| one block, all four | | {totals[0] * 1e3:.1f} | | {totals[1] * 1e3:.1f} | | "
        f"{totals[1] / totals[0]:.2f} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
