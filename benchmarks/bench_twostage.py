"""The two-stage kind at up to a million base-size photos, against exact search (streaming the
store), ``pca``, ``ivfpq`` and an HNSW-over-PCA shortlist, on ``bench_search.py``'s hard data.

Usage:
  python benchmarks/bench_twostage.py build --rows 1000000 --folder DIR [--snapshots ...]
  python benchmarks/bench_twostage.py search --folder DIR/n100000 [--kinds ...] [--nprobes ...]
  python benchmarks/bench_twostage.py crossover --folder DIR/n100000 --exact-store STORE
  python benchmarks/bench_twostage.py validate --rows 20000   # the data generators compared

``build`` makes the data once, in one streamed pass of ``--chunk`` rows (``pooled_data``: the
same streets, places and views with a 1/j spectrum as ``bench_search.HardData``, at a copy's
cost instead of numpy's 17 ns per normal value), and with each chunk:

- appends it to a float16 descriptor store (``sciceapp.engine.store.StoreWriter``, a
  checkpoint every ``--checkpoint`` rows), which exact search and both re-ranks read;
- updates the exact top-11 of every query (inner product over the float32 vectors: the
  ground truth, in the same pass);
- projects it with the ``twostage`` index's PCA (trained by the app's ``VectorIndex.train`` on
  ``--train`` held-out vectors, 24 960 by default: what a conversion's 1 GiB sample holds) and
  adds it to that IVF-PQ index (``ivfpq`` is the same file searched alone) and to a flat L2
  index of the 1024-d projections (the ``pca`` kind: its unrotated PCA gives the same L2
  distances), and projects it with a PCA to ``--hnsw-dim`` dimensions for a faiss
  ``IndexHNSWFlat`` (``--hnsw-m`` links, ``--hnsw-efc`` construction depth).

Each stage's seconds are summed, so every kind's build time is what it alone costs
(generation not counted). The ``pca`` kind is searched at the end of ``build`` from memory
(its file would be 4 GiB more on disk); the other kinds' files are written for ``search``.

``search`` runs each kind in its own process (so its resident memory is its own): the store is
opened memory-mapped and the index file read with ``IO_FLAG_MMAP_IFC``, as a collection does.
For each setting (shortlist size, nprobe or efSearch) the store's and the index's pages are
dropped from the page cache first (``posix_fadvise DONTNEED``), then the queries run twice:
*cold* (the re-rank reads its rows from disk, as the first lookup after a reboot does) and
*warm* (same queries again). ``--singles`` queries are timed one by one, the rest in batches of
``--batch``. Recall@10 is against the exact top-10 of the float32 vectors; place@1 is the share
of queries whose first result shows their place; "in shortlist" is the share of the exact
top-10 the shortlist contains (what the re-rank can at best recover). Exact search streams the
whole store once per call, so it is timed on one single query and one batch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import bench_search as bs
import faiss
import numpy as np
from bench_store_memory import memory
from pooled_data import TRAINING, PooledHardData

from sciceapp.engine.index import (
    PCA_TRAIN_PER_DIM,
    IndexParams,
    VectorIndex,
    faiss_search,
    recall_at_k,
)
from sciceapp.engine.open_index import OpenIndex
from sciceapp.engine.store import VECTORS_FILE, DescriptorStore, Segment, StoreWriter

K = 10
IVF_FILE, HNSW_FILE, HNSW_PCA_FILE = "twostage.faiss", "hnsw.faiss", "hnsw-pca.faiss"


def machine_line() -> str:
    with open("/proc/cpuinfo") as info:
        lines = info.readlines()
    flags = next((ln for ln in lines if ln.startswith("flags")), "flags: ?")
    model = next((ln for ln in lines if ln.startswith("model name")), ": ?")
    return (
        f"# machine: {model.split(':', 1)[1].strip()}, {os.cpu_count()} cores, faiss "
        f"{faiss.__version__}, load average {os.getloadavg()[0]:.1f}\n# cpu {flags.strip()}"
    )


class Truth:
    """The exact top-``k`` of each query, updated one chunk at a time."""

    def __init__(self, queries: np.ndarray, k: int) -> None:
        self.queries = queries
        self.scores = np.full((len(queries), k), -np.inf, np.float32)
        self.ids = np.full((len(queries), k), -1, np.int64)

    def update(self, start: int, x: np.ndarray) -> None:
        k = self.scores.shape[1]
        scores = np.concatenate([self.scores, self.queries @ x.T], axis=1)
        rows = np.broadcast_to(np.arange(start, start + len(x)), (len(self.queries), len(x)))
        ids = np.concatenate([self.ids, rows], axis=1)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        self.scores = np.take_along_axis(scores, top, 1)
        self.ids = np.take_along_axis(ids, top, 1)

    def sorted(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(-self.scores, axis=1)
        return np.take_along_axis(self.scores, order, 1), np.take_along_axis(self.ids, order, 1)


def _pca_rows(pca: faiss.PCAMatrix) -> tuple[np.ndarray, np.ndarray]:
    """``(A [d_out, d_in], b [d_out])`` of a trained PCA: ``y = x @ A.T + b``."""
    a = faiss.vector_to_array(pca.A).reshape(pca.d_out, pca.d_in)
    return np.ascontiguousarray(a), faiss.vector_to_array(pca.b)


def project(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """What ``PCAMatrix.apply`` computes, as one numpy (multi-threaded BLAS) product."""
    return x @ a.T + b


def build(args) -> None:
    """One pass over ``--rows`` rows; at each of ``--snapshots`` (and at the end) the indexes,
    the ground truth and the store's committed segments so far are saved to ``n<rows>/``."""
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    dim, n = args.dim, args.rows
    snapshots = sorted({*(s for s in args.snapshots if s < n), n})
    print(
        f"# bench_twostage build: {n:,} rows, D={dim}, {args.queries} queries of places in the "
        f"first {args.query_rows:,} rows, snapshots at {snapshots}; {uptime()}"
    )
    print(machine_line(), flush=True)
    data = PooledHardData(dim, args.seed)
    queries, places = data.queries(args.queries, args.query_rows, args.seed)
    times = dict.fromkeys(
        ("generate", "store", "truth", "train ivf", "train hnsw pca", "project 1024", "ivf add")
        + ("pca add", "project hnsw", "hnsw add"),
        0.0,
    )

    def timed(name, fn, *a):
        t0 = time.perf_counter()
        out = fn(*a)
        times[name] += time.perf_counter() - t0
        return out

    params = IndexParams(args.pca_dim, args.nlist, args.pq_m, 8, args.nprobe, 256)
    train = data.chunk(0, args.train, TRAINING)
    ivf = VectorIndex(dim, "twostage", params)
    timed("train ivf", ivf.train, train)
    a_ivf, b_ivf = _pca_rows(faiss.downcast_VectorTransform(ivf._index.chain.at(0)))
    hnsw_pca = faiss.PCAMatrix(dim, args.hnsw_dim)
    step = max(1, -(-len(train) // (PCA_TRAIN_PER_DIM * args.hnsw_dim)))
    timed("train hnsw pca", hnsw_pca.train, np.ascontiguousarray(train[::step]))
    a_hnsw, b_hnsw = _pca_rows(hnsw_pca)
    del train
    print(f"# trained: {json.dumps(times)}; {uptime()}", flush=True)
    hnsw = faiss.IndexHNSWFlat(args.hnsw_dim, args.hnsw_m)
    hnsw.hnsw.efConstruction = args.hnsw_efc
    pca_flat = faiss.IndexFlatL2(a_ivf.shape[0])
    truth = Truth(queries, K + 1)
    writer = StoreWriter(folder / "collection", dim, "float16", [])
    started = time.perf_counter()
    for start in range(0, n, args.chunk):
        count = min(args.chunk, n - start)
        ids = np.arange(start, start + count)
        x = timed("generate", data.chunk, start, count)
        timed("store", writer.append, ids, x)
        done = start + count
        if done % args.checkpoint == 0 or done in snapshots:
            timed("store", lambda: writer.committed(writer.flush(len(writer.segments) + 1)))
        timed("truth", truth.update, start, x)
        y = timed("project 1024", project, x, a_ivf, b_ivf)
        timed("ivf add", ivf._ivf.add_with_ids, y, ids)
        timed("pca add", pca_flat.add, y)
        del y
        z = timed("project hnsw", project, x, a_hnsw, b_hnsw)
        timed("hnsw add", hnsw.add, z)
        if done % args.report == 0 or done == n:
            report(done, n, started, times)
        if done in snapshots:
            snapshot = Snapshot(args, folder / f"n{done}", data, queries, places)
            snapshot.save(truth, ivf, hnsw, hnsw_pca, pca_flat, writer.segments, times, params)
    writer.close()
    print(f"# build done; {uptime()}")


def report(done: int, n: int, started: float, times: dict) -> None:
    """A build's progress line: rows done, seconds, time left, load, seconds per stage."""
    spent = time.perf_counter() - started
    print(
        f"# {done:,} rows, {spent:.0f} s, eta {spent * (n - done) / done:.0f} s, "
        f"load {os.getloadavg()[0]:.1f}: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()),
        flush=True,
    )


class Snapshot:
    """What ``search`` needs at one database size, saved in the middle of the build."""

    def __init__(self, args, folder: Path, data, queries, places) -> None:
        self.args, self.folder, self.data = args, folder, data
        self.queries, self.places = queries, places

    def save(self, truth, ivf, hnsw, hnsw_pca, pca_flat, segments, times, params) -> None:
        args, folder = self.args, self.folder
        folder.mkdir(parents=True, exist_ok=True)
        n = int(pca_flat.ntotal)
        ivf._index.ntotal = ivf._ivf.ntotal  # added to the IVF directly: the wrapper's count
        scores, exact = truth.sorted()
        per = self.data.photos_per_place
        print(
            f"## N = {n:,}: " + bs.describe_neighbourhoods(self.data, scores, exact, self.places, K)
        )
        t0 = time.perf_counter()
        sha = ivf.save(folder / IVF_FILE)
        saved = {"ivf save": time.perf_counter() - t0}
        faiss.write_index(hnsw, str(folder / HNSW_FILE))
        faiss.write_VectorTransform(hnsw_pca, str(folder / HNSW_PCA_FILE))
        np.savez(folder / "truth.npz", queries=self.queries, places=self.places, ids=exact)
        pca_row = search_pca(args, ivf, pca_flat, self.queries, self.places, exact, per)
        meta = {
            "rows": n,
            "dim": args.dim,
            "params": params.__dict__,
            "ivf_sha256": sha,
            "segments": [s.__dict__ for s in segments],
            "hnsw": {"dim": args.hnsw_dim, "m": args.hnsw_m, "efc": args.hnsw_efc},
            "train": args.train,
            "times": {**times, **saved},
            "exact_place1": float(np.mean(exact[:, 0] // per == self.places)),
            "pca_row": pca_row,
            "photos_per_place": per,
        }
        (folder / "meta.json").write_text(json.dumps(meta, indent=1))
        print(f"## snapshot {folder} saved: {json.dumps(meta['times'])}; {uptime()}", flush=True)


def search_pca(args, ivf, pca_flat, queries, places, exact, per) -> dict:
    """The pca kind, from memory: what ``VectorIndex(kind="pca")`` searches (PCA, then flat
    L2 over the reduced vectors; ids are the row numbers here)."""
    index = faiss.IndexPreTransform(ivf._index.chain.at(0), pca_flat)

    def run(q):
        return faiss_search(index, q, K)[1]

    row = time_passes(run, queries, args.singles, args.batch)
    row.update(score(row.pop("ids"), exact, places, per))
    row.update(kind="pca", setting=f"PCA {pca_flat.d}, flat L2 in RAM", memory=memory())
    print(json.dumps(row), flush=True)
    return row


def time_passes(run, queries, singles, batch, warm_passes: int = 5) -> dict:
    """Singles then batches over ``queries``: once cold, then ``warm_passes`` times warm (the
    warm times are the median pass's; every pass's are in ``warm_passes``, since on a shared
    VM one pass of a second can differ from the next by 20%): ms per query and the ids."""
    out: dict = {"warm_passes": []}
    for name in ["cold"] + ["warm"] * warm_passes:
        ids = []
        t0 = time.perf_counter()
        for q in queries[:singles]:
            ids.append(run(q[None, :]))
        single = (time.perf_counter() - t0) * 1000 / max(singles, 1)
        t0 = time.perf_counter()
        for first in range(singles, len(queries), batch):
            ids.append(run(queries[first : first + batch]))
        batched = (time.perf_counter() - t0) * 1000 / max(len(queries) - singles, 1)
        if name == "warm":
            out["warm_passes"].append({"single_ms": single, "batch_ms": batched})
        else:
            out[name] = {"single_ms": single, "batch_ms": batched}
        out["ids"] = np.concatenate(ids)
    passes = out["warm_passes"]
    out["warm"] = {
        key: float(np.median([p[key] for p in passes])) for key in ("single_ms", "batch_ms")
    }
    return out


def score(ids, exact, places, per) -> dict:
    n = len(ids)
    return {
        "recall10": recall_at_k(ids, exact[:n], K),
        "place1": float(np.mean(ids[:, 0] // per == places[:n])),
        "queries": n,
    }


def drop_cache(*paths: Path) -> None:
    for path in paths:
        if not path.exists():
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def search_kind(args) -> None:
    """One kind, every setting, in this process (run by ``search`` as a child)."""
    folder = Path(args.folder)
    meta = json.loads((folder / "meta.json").read_text())
    truth = np.load(folder / "truth.npz")
    queries, places, exact = truth["queries"], truth["places"], truth["ids"]
    per, dim = meta["photos_per_place"], meta["dim"]
    segments = [Segment(**s) for s in meta["segments"]]
    store_folder = folder.parent / "collection"
    store_file = store_folder / "store" / VECTORS_FILE
    faiss.omp_set_num_threads(args.threads)
    kind = args.kind
    settings = {
        "exact": [None],
        "ivfpq": args.nprobes,
        "twostage": [(s, p) for p in args.nprobes for s in args.shortlists],
        "hnsw": [(s, max(s, e)) for e in args.efs for s in args.shortlists],
        "pcaflat": args.shortlists,
    }[kind]
    pca_flat = None
    for setting in settings:
        drop_cache(store_file, folder / IVF_FILE, folder / HNSW_FILE)
        store = DescriptorStore(store_folder, dim, "float16", segments)
        params = IndexParams(**meta["params"])
        shortlist_of = None
        if kind == "exact":
            opened = OpenIndex(1, "flat", store, None, params)
            label = "streams the float16 store"
        elif kind in ("ivfpq", "twostage"):
            nprobe = setting if kind == "ivfpq" else setting[1]
            params.nprobe = nprobe
            if kind == "twostage":
                params.shortlist = setting[0]
            index = VectorIndex.load(folder / IVF_FILE, kind, params, meta["ivf_sha256"], True)
            opened = OpenIndex(1, kind, store, index, params)
            label = f"nprobe {nprobe}" + (f", shortlist {setting[0]}" if kind == "twostage" else "")
            if kind == "twostage":
                shortlist_of = lambda q, i=index, s=setting[0]: i.search(q, s)[1]  # noqa: E731
        elif kind == "pcaflat":
            if pca_flat is None:
                pca_flat = exact_pca_shortlister(folder, meta, store)
            shortlist_of = lambda q, f=pca_flat, s=setting: f(q, s)  # noqa: E731
            opened = HnswTwoStage(shortlist_of, store)
            label = f"exact PCA-1024 shortlist {setting} (upper bound of any PCA-1024 code)"
        else:
            shortlist, ef = setting
            hnsw = faiss.read_index(str(folder / HNSW_FILE), faiss.IO_FLAG_MMAP_IFC)
            hnsw.hnsw.efSearch = ef
            pca = faiss.read_VectorTransform(str(folder / HNSW_PCA_FILE))
            shortlist_of = lambda q, h=hnsw, p=pca, s=shortlist: h.search(p.apply(q), s)[1]  # noqa: E731
            opened = HnswTwoStage(shortlist_of, store)
            label = f"efSearch {ef}, shortlist {shortlist}"
        if kind == "exact":
            row = time_exact(opened, queries, args.batch)
            q_used = 1 + args.batch
        else:
            row = time_passes(
                lambda q, o=opened: o.search(q, K)[1], queries, args.singles, args.batch
            )
            q_used = len(queries)
        ids = row.pop("ids")
        row.update(score(ids, exact[:q_used], places[:q_used], per))
        if shortlist_of is not None:
            row["in_shortlist"] = in_shortlist(shortlist_of(queries), exact)
        row.update(kind=kind, setting=label, memory=memory())
        print(json.dumps(row), flush=True)
        del opened, store


def in_shortlist(shortlist: np.ndarray, exact: np.ndarray) -> float:
    """Share of each exact top-10 found anywhere in the shortlist."""
    hits = [
        len(set(s.tolist()) & set(e[:K].tolist())) for s, e in zip(shortlist, exact, strict=True)
    ]
    return float(np.sum(hits) / (K * len(exact)))


def exact_pca_shortlister(folder: Path, meta: dict, store: DescriptorStore):
    """``(queries, s) -> ids [Q, s]``: the nearest ``s`` by exact L2 between the twostage
    index's PCA-1024 projections (no PQ), built here from the store's rows: what the best
    possible code of the PCA-1024 vectors (e.g. 8-bit scalar quantisation) could shortlist."""
    index = VectorIndex.load(folder / IVF_FILE, "twostage", IndexParams(**meta["params"]))
    pca = faiss.downcast_VectorTransform(index._index.chain.at(0))
    flat = faiss.IndexFlatL2(pca.d_out)
    for _, block in store.chunks():
        flat.add(pca.apply(np.ascontiguousarray(block)))

    def shortlist(q: np.ndarray, s: int, keep=index) -> np.ndarray:  # keep: pca's owner
        return faiss_search(flat, pca.apply(np.ascontiguousarray(q)), s)[1]

    return shortlist


class HnswTwoStage:
    """The two-stage search with another shortlist (HNSW, exact PCA): ``OpenIndex``'s re-rank."""

    def __init__(self, shortlist_of, store: DescriptorStore) -> None:
        self.shortlist_of, self.store = shortlist_of, store

    def search(self, queries: np.ndarray, k: int):
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        return self.store.rerank(queries, self.shortlist_of(queries), k)


def time_exact(opened, queries, batch) -> dict:
    """Exact search reads the whole store per call: one single query, then one batch."""
    t0 = time.perf_counter()
    single_ids = opened.search(queries[:1], K)[1]
    single = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    batch_ids = opened.search(queries[1 : 1 + batch], K)[1]
    batched = (time.perf_counter() - t0) * 1000 / batch
    timing = {"single_ms": single, "batch_ms": batched}
    return {"cold": timing, "warm": timing, "ids": np.concatenate([single_ids, batch_ids])}


def search(args) -> None:
    folder = Path(args.folder)
    meta = json.loads((folder / "meta.json").read_text())
    n = meta["rows"]
    print(f"# bench_twostage search: {n:,} rows, D={meta['dim']}, uptime: {uptime()}")
    print(machine_line(), flush=True)
    rows = [meta["pca_row"]] if "pca_row" in meta else []  # twostage_store.py has none
    for kind in args.kinds:
        command = [sys.executable, __file__, "search-kind", "--folder", str(folder), "--kind", kind]
        for name in ("shortlists", "nprobes", "efs"):
            command += [f"--{name}", *map(str, getattr(args, name))]
        command += ["--singles", str(args.singles), "--batch", str(args.batch)]
        command += ["--threads", str(args.threads)]
        print(f"# {kind}: started, load {os.getloadavg()[0]:.1f}", flush=True)
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("{"):
                rows.append(json.loads(line))
                print(line, flush=True)
    (folder / f"search-{int(time.time())}.json").write_text(json.dumps(rows))
    print_table(meta, rows)
    print(f"# search done, uptime: {uptime()}")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def disk_bytes(meta, folder: Path, kind: str) -> float:
    n = meta["rows"]
    store = (2 * meta["dim"] + 8) * n
    ivf = _size(folder / IVF_FILE)
    hnsw = _size(folder / HNSW_FILE) + _size(folder / HNSW_PCA_FILE)
    pca = (4 * min(meta["params"]["pca_dim"], meta["dim"]) + 8) * n
    return {
        "exact": store,
        "ivfpq": ivf,
        "twostage": store + ivf,
        "hnsw": store + hnsw,
        "pca": pca,
        "pcaflat": store + pca,
    }[kind] / n


def _size(path: Path) -> float:
    return path.stat().st_size if path.exists() else float("nan")


def build_seconds(meta, kind: str) -> float:
    t = {"pca add": float("nan"), "train hnsw pca": float("nan"), **meta["times"]}
    t.setdefault("project hnsw", float("nan"))
    t.setdefault("hnsw add", float("nan"))
    ivf = t["train ivf"] + t["project 1024"] + t["ivf add"] + t.get("ivf save", 0)
    return {
        "exact": t["store"],
        "ivfpq": ivf,
        "twostage": ivf + t["store"],
        "pca": t["train ivf"] + t["project 1024"] + t["pca add"],
        "hnsw": t["train hnsw pca"] + t["project hnsw"] + t["hnsw add"] + t["store"],
        "pcaflat": t["train ivf"] + t["project 1024"] + t["pca add"] + t["store"],
    }[kind]


def print_table(meta, rows) -> None:
    print(
        "\n| kind | setting | recall@10 | place@1 | in shortlist | single ms cold / warm "
        "| batch-8 ms/query cold / warm | RSS anon / file MiB | disk bytes/photo | build s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    folder = Path(ARGS.folder)
    for r in rows:
        c, w, m = r["cold"], r["warm"], r["memory"]
        shortlist = f"{r['in_shortlist']:.3f}" if "in_shortlist" in r else "-"
        print(
            f"| {r['kind']} | {r['setting']} | {r['recall10']:.3f} | {r['place1']:.2f} "
            f"| {shortlist} | {c['single_ms']:.1f} / {w['single_ms']:.1f} "
            f"| {c['batch_ms']:.1f} / {w['batch_ms']:.1f} | {m['RssAnon']:.0f} / "
            f"{m['RssFile']:.0f} | {disk_bytes(meta, folder, r['kind']):,.0f} "
            f"| {build_seconds(meta, r['kind']):.0f} |"
        )
    print(f"\nexact place@1 (float32 ground truth): {meta['exact_place1']:.2f}")


def validate(args) -> None:
    """The pooled generator's neighbourhoods next to ``bench_search.HardData``'s."""
    print(machine_line())
    old = bs.HardData(args.dim, args.seed)
    queries, places = bs.make_queries(old, args.rows, args.queries, args.chunk)
    scores, ids, _ = bs.exact_top_k(old, args.rows, queries, K + 1, args.chunk)
    print(
        "numpy  (bench_search.HardData): " + bs.describe_neighbourhoods(old, scores, ids, places, K)
    )
    new = PooledHardData(args.dim, args.seed)
    queries, places = new.queries(args.queries, args.rows, args.seed)
    truth = Truth(queries, K + 1)
    t0 = time.perf_counter()
    for start in range(0, args.rows, args.chunk):
        truth.update(start, new.chunk(start, min(args.chunk, args.rows - start)))
    scores, ids = truth.sorted()
    print(
        f"pooled (pooled_data, {time.perf_counter() - t0:.0f} s): "
        + bs.describe_neighbourhoods(new, scores, ids, places, K)
    )


def crossover(args) -> None:
    """Exact search (streaming a store) against the two-stage kind at the first ``--sizes``
    rows of a snapshot: below which size is exact faster? The two-stage index is the
    snapshot's with the later ids removed (same training); exact search is timed on the
    snapshot's float16 store and on ``--exact-store`` (a float32 store of the same size, as a
    flat collection keeps by default, e.g. bench_store_memory.py's with ``--keep``). Every
    search is warmed once first (the rows are in the page cache), and the kinds alternate
    query by query, so load from other processes hits them alike."""
    folder = Path(args.folder)
    meta = json.loads((folder / "meta.json").read_text())
    dim, params = meta["dim"], IndexParams(**meta["params"])
    params.nprobe, params.shortlist = args.nprobes[0], args.shortlists[0]
    queries = np.load(folder / "truth.npz")["queries"][: args.singles]
    full = VectorIndex.load(folder / IVF_FILE, "twostage", params, meta["ivf_sha256"])
    print(f"# bench_twostage crossover: D={dim}, {len(queries)} single queries, {params}")
    print(f"# {uptime()}\n{machine_line()}")
    print(
        "\n| photos | exact float32 ms | exact float16 ms | twostage ms | exact f32 / twostage "
        "/ f16 / twostage | twostage recall@10 vs exact |"
    )
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        index = VectorIndex._wrap(faiss.clone_index(full._index), "twostage", params)
        index.remove(np.arange(n, full.ntotal))  # the app's removal (pq4 codes: not faiss')
        part = [Segment(1, 0, n, 0, 0, "")]
        f16 = DescriptorStore(folder.parent / "collection", dim, "float16", part)
        searches = {"f16": OpenIndex(1, "flat", f16, None, params)}
        if args.exact_store is not None:  # else the float32 column is the float16 store's
            f32 = DescriptorStore(args.exact_store, dim, "float32", part)
            searches["f32"] = OpenIndex(1, "flat", f32, None, params)
        searches["two"] = OpenIndex(1, "twostage", searches["f16"].store, index, params)
        spent = dict.fromkeys(searches, 0.0)
        found = {name: [] for name in searches}
        for opened in searches.values():
            opened.search(queries[:1], K)  # warm: the rows into the page cache
        for q in queries:
            for name, opened in searches.items():
                t0 = time.perf_counter()
                found[name].append(opened.search(q[None, :], K)[1])
                spent[name] += time.perf_counter() - t0
        ms = {name: 1000 * t / len(queries) for name, t in spent.items()}
        ms.setdefault("f32", float("nan"))
        recall = recall_at_k(np.concatenate(found["two"]), np.concatenate(found["f16"]), K)
        print(
            f"| {n:,} | {ms['f32']:.1f} | {ms['f16']:.1f} | {ms['two']:.1f} "
            f"| {ms['f32'] / ms['two']:.2f}x / {ms['f16'] / ms['two']:.2f}x | {recall:.3f} |",
            flush=True,
        )
    print(f"\n# {uptime()}")


ARGS = None


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", choices=("build", "search", "search-kind", "validate", "crossover")
    )
    parser.add_argument("--folder", default="/tmp/sciceapp-bench-twostage")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=10752)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--singles", type=int, default=36, help="queries timed one by one")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--checkpoint", type=int, default=100_000)
    parser.add_argument("--report", type=int, default=50_000)
    parser.add_argument(
        "--train",
        type=int,
        default=24_960,
        help="held-out training vectors (24 960: what a conversion's 1 GiB sample holds)",
    )
    parser.add_argument(
        "--snapshots",
        type=int,
        nargs="+",
        default=[100_000, 300_000, 500_000],
        help="build: database sizes at which the indexes are saved for `search` (and the end)",
    )
    parser.add_argument(
        "--query-rows", type=int, default=100_000, help="queries show places of these rows"
    )
    parser.add_argument("--pca-dim", type=int, default=1024)
    parser.add_argument("--nlist", type=int, default=256)
    parser.add_argument("--pq-m", type=int, default=128)
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--hnsw-dim", type=int, default=256)
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--hnsw-efc", type=int, default=64)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=["exact", "ivfpq", "twostage", "hnsw"],
        help="search: also pcaflat (an exact PCA-1024 shortlist, built from the store)",
    )
    parser.add_argument("--shortlists", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--nprobes", type=int, nargs="+", default=[32])
    parser.add_argument("--efs", type=int, nargs="+", default=[256])
    parser.add_argument("--threads", type=int, default=1, help="faiss threads for searching")
    parser.add_argument(
        "--build-threads",
        type=int,
        default=1,
        help="faiss threads to build (default 1: under other load, two OpenMP threads made "
        "each of the PQ training's 2 560 small k-means runs several times slower)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000, 50_000, 100_000])
    parser.add_argument("--exact-store", type=Path, help="crossover: a float32 store folder")
    ARGS = args = parser.parse_args()
    if args.command == "build":
        faiss.omp_set_num_threads(args.build_threads)
        build(args)
    elif args.command == "search":
        search(args)
    elif args.command == "search-kind":
        search_kind(args)
    elif args.command == "crossover":
        crossover(args)
    else:
        validate(args)


if __name__ == "__main__":
    main()
