"""The settings of a collection's index kinds, and the one check they pass before faiss.

Kinds (see ``index.py`` for what each stores): ``flat``, ``pca``, ``ivfpq``, ``twostage``.
The two IVF kinds share ``nlist`` and ``nprobe``; ``twostage`` encodes its shortlist with one
of :data:`CODES`:

- ``sq8``: the PCA-reduced vectors, each value in 8 bits
  (faiss' scalar quantiser, per-dimension ranges, on the residual to the list's centroid):
  ``pca_dim`` bytes per photo. On the hard data at 100k-1M base-size photos it keeps what an
  exact search of the reduced vectors keeps (benchmarks/RESULTS.md, "Shortlist codes").
- ``pq``: product quantisation to ``pq_m`` bytes (``pq_bits`` each) after a random rotation,
  the code of the first two-stage files; they still open and search as written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sciceapp.engine.defaults import INDEX_CODES, INDEX_PARAM_RANGES

KINDS = ("flat", "pca", "ivfpq", "twostage")
IVF_KINDS = ("ivfpq", "twostage")
CODES = INDEX_CODES
KMEANS_POINTS_PER_CENTROID = 39
PQ4_VALUES_PER_CODE = 2
"""``pq4``: reduced values per 4-bit code (1024 dimensions: 512 codes, 256 bytes a photo).
Measured at 1M photos, every list searched (RESULTS, "Fast-scan shortlist"): 2 values per
code keep 0.961 of the exact top-10 in a shortlist of 1024, 4 values per code (128 bytes)
0.927."""


@dataclass
class IndexParams:
    """Settings of the trained kinds (ignored by ``flat``)."""

    pca_dim: int = 1024
    nlist: int = 256  # 4k photos per list at 1M; suggested_nlist() for bigger collections
    pq_m: int = 128
    pq_bits: int = 8
    # Lists searched: all of the default 256. On the hard benchmark data a query's neighbours
    # lie in many lists, so the lists searched bound the shortlist: at 1M photos with pq4
    # codes a query's exact top-10 is 0.942 in a shortlist of 1024 at nprobe 128, 0.961 at
    # 256 (with sq8: 0.949 and 0.968); the fast-scan codes make scanning all of them cheap
    # (benchmarks/RESULTS.md, "Fast-scan shortlist").
    nprobe: int = 256
    # twostage: photos per query re-ranked with their full vectors. At 1M photos (pq4, every
    # list) the shortlist holds 0.920 of the exact top-10 at 256, 0.942 at 512, 0.961 at 1024.
    shortlist: int = 1024
    code: str = "pq4"  # twostage: how the shortlist's vectors are encoded (CODES)

    def effective_pca_dim(self, dim: int) -> int:
        return min(self.pca_dim, dim)

    def uses_pq(self, kind: str) -> bool:
        """Whether ``kind`` with these settings stores product-quantisation codes."""
        return kind == "ivfpq" or (kind == "twostage" and self.code == "pq")

    def uses_pq4(self, kind: str) -> bool:
        """Whether ``kind`` with these settings stores 4-bit fast-scan codes."""
        return kind == "twostage" and self.code == "pq4"


def code_bytes(kind: str, dim: int, params: IndexParams) -> int:
    """Bytes per photo of a trained ``kind``'s codes (ids and fixed parts not counted)."""
    reduced = params.effective_pca_dim(dim)
    if params.uses_pq(kind):
        return params.pq_m * params.pq_bits // 8
    if params.uses_pq4(kind):
        return reduced // PQ4_VALUES_PER_CODE // 2
    return reduced if kind == "twostage" else 4 * reduced


def describe(kind: str, dim: int, params: IndexParams) -> str:
    """What a trained ``kind`` index holds, in words (``collection show``)."""
    reduced = params.effective_pca_dim(dim)
    if kind == "pca":
        return f"{reduced}-d PCA, searched exactly"
    if params.uses_pq(kind):
        code = f"{params.pq_m}-byte PQ codes of a rotated {reduced}-d PCA"
    elif params.uses_pq4(kind):
        size = code_bytes(kind, dim, params)
        code = f"4-bit fast-scan PQ codes of a rotated {reduced}-d PCA ({size} bytes per photo)"
    else:
        code = f"8-bit codes of a {reduced}-d PCA ({reduced} bytes per photo)"
    searched = "all" if params.nprobe >= params.nlist else str(params.nprobe)
    lists = f"{params.nlist} lists, {searched} searched"
    if kind == "twostage":
        return f"a shortlist of {params.shortlist} from {code} in {lists}"
    return f"{code} in {lists}"


def check_params(kind: str, dim: int, params: IndexParams) -> IndexParams:
    """``params`` if ``kind`` can be built with them at descriptor size ``dim``, else a
    ``ValueError`` naming the setting and its allowed range. The one check of index settings:
    ``create``, the catalogue reader, index files and ``VectorIndex`` all call it."""
    check_kind(kind)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        raise ValueError(f"Descriptor size must be a positive integer, got {dim!r}.")
    for name, (low, high) in INDEX_PARAM_RANGES.items():
        value = getattr(params, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}.")
    if params.code not in CODES:
        raise ValueError(f"code must be one of {', '.join(CODES)}, got {params.code!r}.")
    reduced = params.effective_pca_dim(dim)
    if params.uses_pq(kind) and reduced % params.pq_m:
        raise ValueError(f"pq_m={params.pq_m} must divide the reduced size {reduced}.")
    if params.uses_pq4(kind) and reduced % PQ4_VALUES_PER_CODE:
        raise ValueError(
            f"The pq4 code needs a reduced size divisible by {PQ4_VALUES_PER_CODE}, got {reduced}."
        )
    return params


def params_from_dict(values: object) -> IndexParams:
    """``IndexParams`` from stored JSON values (``TypeError`` for unknown keys or a non-dict);
    the values themselves are checked by :func:`check_params`. Settings stored before
    ``code`` existed are those of the version that wrote PQ codes: they read back as ``pq``,
    so that what ``collection show`` says and what the next conversion builds match the
    file that collection already has (its other stored settings, ``nprobe`` among them, stay
    as they were too)."""
    if not isinstance(values, dict):
        raise TypeError(f"index settings must be a JSON object, got {type(values).__name__}")
    return IndexParams(**{"code": "pq", **values})


def min_training_vectors(kind: str, dim: int, params: IndexParams | None = None) -> int:
    """How many vectors ``kind`` needs to be trained (0 for ``flat``)."""
    check_kind(kind)
    params = params or IndexParams()
    if kind == "flat":
        return 0
    pca_dim = params.effective_pca_dim(dim)
    if kind == "pca":
        return pca_dim
    needed = [KMEANS_POINTS_PER_CENTROID * params.nlist, pca_dim]  # ivfpq and twostage
    if params.uses_pq(kind):
        needed.append(KMEANS_POINTS_PER_CENTROID * 2**params.pq_bits)
    elif params.uses_pq4(kind):
        needed.append(KMEANS_POINTS_PER_CENTROID * 2**4)
    return max(needed)


def suggested_nlist(n_vectors: int) -> int:
    """A power of two near ``4 * sqrt(n)`` that ``n`` vectors can train (at least 16)."""
    target = max(16, int(4 * np.sqrt(max(n_vectors, 1))))
    nlist = 1 << round(np.log2(target))
    while nlist > 16 and KMEANS_POINTS_PER_CENTROID * nlist > n_vectors:
        nlist //= 2
    return nlist


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"Unknown index kind {kind!r}; choose one of {', '.join(KINDS)}.")
