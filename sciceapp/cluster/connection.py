"""Connecting to Ray for a cluster run: an already initialised Ray as is, an existing cluster
by its address (checked to answer first, in seconds rather than Ray's minutes of retries), or
a local Ray with every CPU of this machine; failures become ``ClusterError`` messages."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

from sciceapp.errors import ClusterError

CONNECT_TIMEOUT_S = 10.0


def _check_reachable(address: str) -> None:
    """``ClusterError`` at once for a ``host:port`` nothing answers on: Ray itself retries
    such an address for minutes before it gives up."""
    if address == "auto" or address.startswith("local"):
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(
            f"{address!r} is not a Ray address; give host:port (the head's GCS, 6379 by "
            "default), ray://host:10001, or auto."
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(
            f"No Ray cluster answers at {address} ({exc.strerror or exc}). Check --address "
            "(or RAY_ADDRESS) and that the cluster is up, or leave both unset to run here."
        ) from exc


@contextlib.contextmanager
def connected(address: str | None) -> Iterator[None]:
    """Ray, connected: an already initialised one as is; ``address`` (or RAY_ADDRESS) as an
    existing cluster; else a local Ray with every CPU of this machine, stopped afterwards."""
    import ray

    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ClusterError(
            f"Cannot start or reach {where}: {exc}. Check --address (or RAY_ADDRESS), or leave "
            "both unset to run on this machine."
        ) from exc
    try:
        yield
    finally:
        ray.shutdown()
