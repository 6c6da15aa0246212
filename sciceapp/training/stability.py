"""The paper's stability claim, measured on our code: does Recall@1 move with the query
batch size and order?

The database is described once per model; then the queries are described again for every
(batch size, order) pair, in batches of queries only, and evaluated. A cross-image teacher's
descriptors depend on the other queries in its batch, so its Recall@1 moves; the student
describes every image alone, so its Recall@1 (and its descriptors) must not move at all.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from sciceapp.engine.evaluation import VprSplit, evaluate
from sciceapp.progress import CancelToken
from sciceapp.training.describe import torch_describer

ORDERS = ("given", "reversed", "shuffled")
BATCH_SIZES = (1, 4, 16)


@dataclass
class StabilityRow:
    batch_size: int
    order: str
    recall1: float
    max_descriptor_change: float  # largest |difference| from the first setting, any query


@dataclass
class StabilityReport:
    model: str
    rows: list[StabilityRow] = field(default_factory=list)

    @property
    def recall1_spread(self) -> float:
        """Largest minus smallest Recall@1 over all settings (percentage points)."""
        values = [r.recall1 for r in self.rows]
        return max(values) - min(values)

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "recall1_spread": self.recall1_spread,
            "rows": [vars(r) for r in self.rows],
        }


def query_order(count: int, order: str, seed: int = 0) -> list[int]:
    if order == "given":
        return list(range(count))
    if order == "reversed":
        return list(range(count))[::-1]
    if order == "shuffled":
        indices = list(range(count))
        random.Random(seed).shuffle(indices)
        return indices
    raise ValueError(f"Unknown order {order!r}; choose one of {', '.join(ORDERS)}.")


def batch_stability(
    name: str,
    network: torch.nn.Module,
    image_size: int,
    split: VprSplit,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    orders: Sequence[str] = ORDERS,
    database_batch_size: int = 16,
    device: torch.device | None = None,
    cancel: CancelToken | None = None,
) -> StabilityReport:
    """Recall@1 of one network for every query batch size and order."""
    device = device or torch.device("cpu")
    network = network.to(device)
    database = torch_describer(network, image_size, database_batch_size, device)(
        split.database_paths, None, cancel
    )
    report = StabilityReport(model=name)
    reference: np.ndarray | None = None
    for batch_size in batch_sizes:
        describe = torch_describer(network, image_size, batch_size, device)
        for order in orders:
            indices = query_order(len(split.query_paths), order)
            result = evaluate(
                describe,
                split.reordered_queries(indices),
                recall_values=(1,),
                database_descriptors=database,
                cancel=cancel,
            )
            # back to the given order, to compare every query's descriptor with the first run
            queries = np.empty_like(result.query_descriptors)
            queries[indices] = result.query_descriptors
            if reference is None:
                reference = queries
            change = float(np.abs(queries - reference).max())
            report.rows.append(StabilityRow(batch_size, order, result.recalls[1], change))
    return report


def format_reports(reports: Sequence[StabilityReport]) -> str:
    """A plain-text table: one line per model and setting, then each model's spread."""
    lines = [f"{'model':<10} {'batch':>5} {'order':<9} {'R@1':>7} {'max desc. change':>17}"]
    for report in reports:
        for row in report.rows:
            lines.append(
                f"{report.model:<10} {row.batch_size:>5} {row.order:<9} "
                f"{row.recall1:>7.2f} {row.max_descriptor_change:>17.2e}"
            )
    for report in reports:
        lines.append(f"{report.model}: Recall@1 moves by {report.recall1_spread:.2f} points")
    return "\n".join(lines)
