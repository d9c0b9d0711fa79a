"""Ports for the servers vidnas starts (MLflow UI, a local cluster): always on 127.0.0.1."""
from __future__ import annotations

import contextlib
import os
import signal
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
    """Stop a server this process started, by its pid: SIGTERM, then SIGKILL after `timeout` s. A
    server started in a session of its own (`start_new_session=True`) is stopped with its whole
    process group, the workers it forked included (MLflow's uvicorn workers): no orphans."""
    group = _own_group(proc)
    _signal(proc, group, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal(proc, group, signal.SIGKILL)
        proc.wait()
    if group:  # workers that outlived their parent
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _own_group(proc: subprocess.Popen) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return False


def _signal(proc: subprocess.Popen, group: bool, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def serve_until_interrupted(proc: subprocess.Popen, announce: str = "") -> int:
    """Wait on a server until it exits, Ctrl-C or SIGTERM, then stop it (a command's foreground
    server): SIGTERM to the command stops the server and its workers too, and exits 0. `announce`
    (the server's address) is printed once SIGTERM is handled: whoever read it may send it."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if announce:
            print(announce, flush=True)
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop(proc, timeout=5.0)
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


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


# MLflow 3's server starts job consumers (huey processes, 236 MB resident each as issue 26 measured) for
# its GenAI jobs unless told not to: memory the trials beside it need, for features vidnas does not use.
MLFLOW_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
