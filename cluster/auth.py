"""Ray 2.60 token authentication for Jobs API clients: the token (search.net.ray_auth_token) as an
`Authorization: Bearer` header."""
from __future__ import annotations

from search.net import ray_auth_token as token


def headers() -> dict[str, str]:
    value = token()
    return {"Authorization": f"Bearer {value}"} if value else {}
