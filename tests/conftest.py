from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import torch

from search.net import MLFLOW_SERVER_ENV, free_port, stop


@pytest.fixture(autouse=True)
def _quiet_and_deterministic() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.manual_seed(0)


def _wait_for(proc: subprocess.Popen, ready, what: str, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            ready()
            return
        except OSError:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s")


@pytest.fixture
def s3_server() -> Iterator[int]:
    """A real S3 endpoint (moto) on 127.0.0.1; its port. Stopped by its pid."""
    exe = Path(sys.executable).parent / "moto_server"
    if not exe.exists():
        pytest.skip("moto_server not installed (pip install -e .[dev])")
    port = free_port()
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_for(proc, lambda: socket.create_connection(("127.0.0.1", port), timeout=0.2).close(), "moto_server")
        yield port
    finally:
        stop(proc)


@pytest.fixture
def mlflow_server(tmp_path_factory) -> Iterator[str]:
    """A real MLflow tracking server on 127.0.0.1 that serves artifacts (so that trials on any node
    need no shared filesystem for them); its URI. Stopped by its pid."""
    state = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                             f"sqlite:///{state / 'mlflow.db'}", "--artifacts-destination", str(state / "artifacts"),
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ | MLFLOW_SERVER_ENV)
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait_for(proc, lambda: urllib.request.urlopen(f"{uri}/health", timeout=2).close(), "mlflow server")
        yield uri
    finally:
        stop(proc)
