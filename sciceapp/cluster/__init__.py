"""Indexing past one machine: Ray Data workers that write the shards a collection imports
(``sciceapp cluster index``; docs/cluster.md).

This layer may import the engine and ray, never torch or Qt; the engine never imports it.
Installed with the ``cluster`` extra (``pip install 'sciceapp[cluster]'``); the desktop bundle
leaves it out.
"""

SHARD_PHOTOS = 1000
"""Photos per shard by default: 43 MB of base-size descriptors, one row group each, and a few
minutes of one GPU, so a failure costs little to redo."""
CPU_DECODE = "cpu"
GPU_DECODE = "gpu"
DECODES = (CPU_DECODE, GPU_DECODE)
"""Where JPEGs are decoded: in the CPU decode tasks (as ``collection add``), or on the model
workers' GPUs (``gpu_decode.py``)."""
