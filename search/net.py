"""Ports for the servers vidnas starts (MLflow UI, a local cluster): always on 127.0.0.1."""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

RAY_TOKEN_FILE = Path.home() / ".ray" / "auth_token"


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


def ray_auth_token() -> str | None:
    """Ray 2.60's token (a cluster started on this machine turns token auth on and keeps it in
    ~/.ray/auth_token): from $RAY_AUTH_TOKEN, the file at $RAY_AUTH_TOKEN_PATH, or that file."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", RAY_TOKEN_FILE))
    return path.read_text().strip() if path.is_file() else None


def ray_auth_env() -> dict[str, str]:
    """What a process that joins a Ray cluster (a driver, `ray start --address`) needs in its
    environment to present the token: token auth mode, unless already chosen."""
    return {"RAY_AUTH_MODE": "token"} if "RAY_AUTH_MODE" not in os.environ and ray_auth_token() else {}


# MLflow 3's server starts 8 job consumers (huey, about 236 MB each) for its GenAI jobs unless told not
# to: memory the trials beside it need, for features vidnas does not use.
MLFLOW_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
