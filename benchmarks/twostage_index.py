"""Stage two of the million-photo benchmark: the app's ``twostage`` index of a snapshot.

Usage:
  python benchmarks/twostage_index.py --folder DIR/n1000000 [--code sq8] [--nlist 1024]

For a snapshot of ``twostage_store.py``: the app's faiss structure for the kind
(``index_faiss.new_faiss_index``) around the cached PCA of ``bench_shortlist.projections``
(the one ``VectorIndex.train`` fits on the held-out training vectors), its IVF trained by the
app's step-by-step ``index_faiss.train_ivf`` on the projected training vectors, every stored
row's projection added under its row number, saved with ``VectorIndex.save``. Adding the
cached projections is what ``VectorIndex.add`` computes (the same PCA, then the IVF), without
projecting the store a second time (for the rotated codes, ``pq`` and ``pq4``, the cache is
rotated as the app's PCA would be: :func:`rotate`). ``meta.json`` gets the settings, the
file's SHA-256 and the seconds of each step, which ``bench_twostage.py search`` reads.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faiss
import numpy as np
from bench_shortlist import projections
from bench_twostage import IVF_FILE, uptime

from sciceapp.engine.index import IndexParams, VectorIndex
from sciceapp.engine.index_faiss import new_faiss_index, train_ivf

ADD_ROWS = 50_000


def rotate(pca, proj, train_proj):
    """What ``faiss.PCAMatrix(..., random_rotation=True)`` fits, from the cached unrotated PCA:
    its matrix and offset multiplied by a random rotation ``R`` (``A' = R A``, ``b' = R b``), and
    the cached projections rotated the same way (``x R^T``), block by block."""
    d = pca.d_out
    rotation = faiss.RandomRotationMatrix(d, d)
    rotation.init(1234)
    r = faiss.vector_to_array(rotation.A).reshape(d, d)
    a = faiss.vector_to_array(pca.A).reshape(d, pca.d_in)
    faiss.copy_array_to_vector((r @ a).astype(np.float32).ravel(), pca.A)
    faiss.copy_array_to_vector((r @ faiss.vector_to_array(pca.b)).astype(np.float32), pca.b)
    out = np.empty(proj.shape, np.float32)
    for start in range(0, len(proj), ADD_ROWS):
        out[start : start + ADD_ROWS] = proj[start : start + ADD_ROWS] @ r.T
    return out, (train_proj @ r.T).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", required=True)
    parser.add_argument("--code", default="sq8")
    parser.add_argument("--pca-dim", type=int, default=1024)
    parser.add_argument("--nlist", type=int, default=1024)
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--shortlist", type=int, default=256)
    parser.add_argument("--pq-m", type=int, default=128)
    parser.add_argument("--train", type=int, default=24_960)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default=IVF_FILE)
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    folder = Path(args.folder)
    meta = json.loads((folder / "meta.json").read_text())
    print(f"# twostage_index {folder}: {vars(args)}; {uptime()}", flush=True)
    proj, train_proj, pca, seconds = projections(folder, meta, args.pca_dim, args.train)
    params = IndexParams(
        pca_dim=args.pca_dim,
        nlist=args.nlist,
        nprobe=args.nprobe,
        shortlist=args.shortlist,
        pq_m=args.pq_m,
        code=args.code,
    )
    kind = "twostage"
    _, parts = new_faiss_index(meta["dim"], kind, params)
    ivf = parts[1]
    if args.code in ("pq", "pq4"):  # the app's PCA is rotated for these codes: rotate the cache
        proj, train_proj = rotate(pca, proj, train_proj)
    t0 = time.perf_counter()
    train_ivf(ivf, np.ascontiguousarray(train_proj), None)
    times = {"train ivf": time.perf_counter() - t0}
    print(f"# trained: {times}; {uptime()}", flush=True)
    t0 = time.perf_counter()
    for start in range(0, len(proj), ADD_ROWS):
        block = np.ascontiguousarray(proj[start : start + ADD_ROWS])
        ivf.add_with_ids(block, np.arange(start, start + len(block), dtype=np.int64))
    times["ivf add"] = time.perf_counter() - t0
    pca.PCAMat.clear()  # as VectorIndex.train does: the file keeps only the projection
    index = VectorIndex._wrap(faiss.IndexPreTransform(pca, ivf), kind, params)
    index._index.ntotal = ivf.ntotal  # added to the IVF directly: the wrapper's count
    index._parts = (parts, pca)
    t0 = time.perf_counter()
    sha = index.save(folder / args.name)
    times["ivf save"] = time.perf_counter() - t0
    times["train pca"], times["project 1024"] = seconds["train pca"], seconds["project"]
    meta.update(params=params.__dict__, ivf_sha256=sha, ivf_file=args.name)
    meta["times"] = {**meta["times"], **times, "train ivf": times["train ivf"] + times["train pca"]}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    size = (folder / args.name).stat().st_size
    print(
        f"# saved {folder / args.name}: {size / 2**20:.0f} MiB, {size / len(proj):.0f} bytes "
        f"per photo; {json.dumps(times)}; {uptime()}",
        flush=True,
    )


if __name__ == "__main__":
    main()
