"""Ports for the servers vidnas starts (MLflow UI, a local cluster): always on 127.0.0.1."""
from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
