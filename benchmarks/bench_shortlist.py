"""Which shortlist code lets the two-stage kind keep >= 0.95 of the exact top-10?

Usage:
  python benchmarks/bench_shortlist.py --folder DIR/n100000 [--codes ...] [--nlists ...]

On a snapshot of ``twostage_store.py`` (the hard data of ``bench_search.py``, D = 10752): the
app's PCA (``VectorIndex.train`` on ``--train`` held-out vectors, what a conversion's 1 GiB
sample holds) projects every stored row once (kept in ``DIR/proj-<dim>.npy``); then for each
code (``flat``: exact L2 between projections, the best any code of them can do; ``sq8``,
``sq6``, ``sq4``: faiss' scalar quantisers, 1, 0.75, 0.5 byte a value; ``pq<m>``: product
quantisation to ``m`` bytes after a random rotation, as the old twostage kind), for each
reduced size (``--dims``: the first components of the one PCA), number of lists and nprobe:

- *in shortlist*: the share of each exact top-10 the shortlist of ``S`` photos holds (what
  the exact re-rank recovers: the re-rank is exact, so this is its recall@10);
- *rows scanned*: codes compared per query (``nprobe / nlist`` of the database);
- *ms/query*: the shortlist search alone, warm, one thread, singles and batches of 8.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faiss
import numpy as np
from bench_twostage import K, machine_line, uptime
from pooled_data import TRAINING, PooledHardData

from sciceapp.engine.index import IndexParams, VectorIndex, faiss_search
from sciceapp.engine.index_faiss import pre_transform
from sciceapp.engine.store import DescriptorStore, Segment


def projections(folder: Path, meta: dict, dim_out: int, train: int):
    """``(proj float32 [N, dim_out], train_proj, pca, seconds)``: the app's PCA (trained on
    ``train`` held-out vectors; one for every snapshot of a store, in ``folder.parent``) of
    every stored row of the snapshot ``folder`` and of the training vectors, cached (the
    PCA's training and the projection take minutes). ``seconds``: what each step took."""
    data = PooledHardData(meta["dim"], meta.get("seed", 0))
    shared = folder.parent / f"pca-{dim_out}-{train}"
    rows = folder / f"proj-{dim_out}-{train}.npy"
    if not (shared / "pca.faiss").exists():
        shared.mkdir(exist_ok=True)
        index = VectorIndex(meta["dim"], "pca", IndexParams(pca_dim=dim_out))
        t0 = time.perf_counter()
        training = data.chunk(0, train, TRAINING)
        index.train(training)
        pca = faiss.downcast_VectorTransform(pre_transform(index._index).chain.at(0))
        seconds = {"train pca": time.perf_counter() - t0}
        np.save(shared / "train.npy", pca.apply(training))
        del training
        faiss.write_VectorTransform(pca, str(shared / "pca.faiss"))
        (shared / "seconds.json").write_text(json.dumps(seconds))
    pca = faiss.read_VectorTransform(str(shared / "pca.faiss"))
    seconds = json.loads((shared / "seconds.json").read_text())
    timing = rows.with_suffix(".json")
    if not timing.exists():
        store = DescriptorStore(
            folder.parent / "collection",
            meta["dim"],
            "float16",
            [Segment(**s) for s in meta["segments"]],
        )
        out = np.lib.format.open_memmap(rows, "w+", np.float32, (store.rows, dim_out))
        t0 = time.perf_counter()
        for start, block in store.chunks():
            out[start : start + len(block)] = pca.apply(block)
            if start % 100_000 < len(block):
                print(f"# projected {start + len(block):,} rows; {uptime()}", flush=True)
        out.flush()
        del out
        timing.write_text(json.dumps({"project": time.perf_counter() - t0}))
    seconds.update(json.loads(timing.read_text()))
    print(f"# PCA {dim_out}: {json.dumps(seconds)}", flush=True)
    return np.load(rows, mmap_mode="r"), np.load(shared / "train.npy"), pca, seconds


def make_index(code: str, d: int, nlist: int) -> faiss.Index:
    quantizer = faiss.IndexFlatL2(d)
    if code == "flat":
        return faiss.IndexFlatL2(d)
    if code.startswith("sq"):
        qtype = {
            "sq8": faiss.ScalarQuantizer.QT_8bit,
            "sq6": faiss.ScalarQuantizer.QT_6bit,
            "sq4": faiss.ScalarQuantizer.QT_4bit,
            "sqfp16": faiss.ScalarQuantizer.QT_fp16,
        }[code]
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, qtype, faiss.METRIC_L2)
    elif code.startswith("fs"):
        index = faiss.IndexIVFPQFastScan(quantizer, d, nlist, int(code[2:]), 4)
    else:
        index = faiss.IndexIVFPQ(quantizer, d, nlist, int(code[2:]), 8)
    _KEEP.append(quantizer)  # the IVF does not own its quantizer
    return index


_KEEP: list = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", required=True)
    parser.add_argument("--codes", nargs="+", default=["flat", "sq8", "sq6", "sq4"])
    parser.add_argument("--dims", type=int, nargs="+", default=[1024, 768, 512])
    parser.add_argument("--nlists", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--nprobes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--shortlists", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--train", type=int, default=24_960)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--singles", type=int, default=20)
    args = parser.parse_args()
    folder = Path(args.folder)
    meta = json.loads((folder / "meta.json").read_text())
    truth = np.load(folder / "truth.npz")
    queries, exact = truth["queries"], truth["ids"][:, :K]
    print(f"# bench_shortlist: {meta['rows']:,} rows, D={meta['dim']}; {uptime()}")
    print(machine_line(), flush=True)
    proj, train_proj, pca, _ = projections(folder, meta, max(args.dims), args.train)
    q_proj = pca.apply(np.ascontiguousarray(queries))
    faiss.omp_set_num_threads(args.threads)
    print(
        "\n| code | dims | nlist | nprobe | bytes/photo | rows scanned | "
        + " | ".join(f"in shortlist {s}" for s in args.shortlists)
        + " | single ms | batch-8 ms/query | train+add s |"
    )
    print("|---|---|---|---|---|---|" + "---|" * len(args.shortlists) + "---|---|---|", flush=True)
    for code in args.codes:
        for d in args.dims:
            x = np.ascontiguousarray(proj[:, :d])
            q = np.ascontiguousarray(q_proj[:, :d])
            for nlist in [0] if code == "flat" else args.nlists:
                index = make_index(code, d, nlist)
                t0 = time.perf_counter()
                if code.startswith(("pq", "fs")):
                    rotation = faiss.RandomRotationMatrix(d, d)
                    rotation.init(123)
                    index = faiss.IndexPreTransform(rotation, index)
                index.train(np.ascontiguousarray(train_proj[:, :d]))
                index.add(x)
                built = time.perf_counter() - t0
                for nprobe in [0] if code == "flat" else args.nprobes:
                    if nprobe:
                        faiss.extract_index_ivf(index).nprobe = nprobe
                    row(args, code, d, nlist, nprobe, index, q, exact, len(x), built)
                del index
            del x
    print(f"\n# done; {uptime()}")


def row(args, code, d, nlist, nprobe, index, q, exact, n, built) -> None:
    hits = []
    for s in args.shortlists:
        ids = faiss_search(index, q, s)[1]
        hits.append(
            np.mean(
                [
                    len(set(a.tolist()) & set(e.tolist())) / K
                    for a, e in zip(ids, exact, strict=True)
                ]
            )
        )
    s = args.shortlists[len(args.shortlists) // 2]
    t0 = time.perf_counter()
    for i in range(args.singles):
        faiss_search(index, q[i : i + 1], s)
    single = (time.perf_counter() - t0) * 1000 / args.singles
    t0 = time.perf_counter()
    rest = q[args.singles :]
    for i in range(0, len(rest), 8):
        faiss_search(index, rest[i : i + 8], s)
    batch = (time.perf_counter() - t0) * 1000 / max(1, len(rest))
    size = {"flat": 4 * d, "sq8": d, "sq6": 0.75 * d, "sq4": 0.5 * d, "sqfp16": 2 * d}
    per = size.get(code, 0) + (8 if nlist else 0)
    if code.startswith(("pq", "fs")):
        per += int(code[2:]) / (2 if code.startswith("fs") else 1)
    scanned = n * nprobe / nlist if nlist else n
    print(
        f"| {code} | {d} | {nlist or '-'} | {nprobe or '-'} | {per:.0f} | {scanned:,.0f} | "
        + " | ".join(f"{h:.3f}" for h in hits)
        + f" | {single:.1f} | {batch:.1f} | {built:.0f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
