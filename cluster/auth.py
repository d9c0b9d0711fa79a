"""Ray 2.60 token authentication for Jobs API clients.

A Ray cluster started on this machine (`ray start --head`, `ray.init()`) turns token auth on and
keeps its token in ~/.ray/auth_token. Clients send it as an `Authorization: Bearer` header: from
$RAY_AUTH_TOKEN, the file at $RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token.
"""
from __future__ import annotations

import os
from pathlib import Path

TOKEN_FILE = Path.home() / ".ray" / "auth_token"


def token() -> str | None:
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", TOKEN_FILE))
    return path.read_text().strip() if path.is_file() else None


def headers() -> dict[str, str]:
    value = token()
    return {"Authorization": f"Bearer {value}"} if value else {}
