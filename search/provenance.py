"""What produced a record: the code's git version (a short hash, or "unknown" outside a checkout)."""
from __future__ import annotations

import subprocess
from pathlib import Path


def code_version() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
