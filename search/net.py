"""Ports for the servers vidnas starts (MLflow UI, a local cluster): always on 127.0.0.1."""
from __future__ import annotations

import socket
import subprocess


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop a server this process started, by its pid: SIGTERM, then SIGKILL after `timeout` s."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def serve_until_interrupted(proc: subprocess.Popen) -> int:
    """Wait on a server until it exits or Ctrl-C, then stop it (a command's foreground server)."""
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)
    return 0
