"""A real local cluster: a Ray head and an MLflow server on 127.0.0.1, stopped by pid."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from cluster.local import ClusterError, LocalCluster, down, up
from search.cli.main import main

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _status(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_cluster_up_and_down_leave_no_process_behind(tmp_path: Path, capsys) -> None:
    state = tmp_path / "cluster"
    assert main(["cluster", "up", "--local", "--state", str(state), "--cpus", "2"]) == 0
    assert "Jobs API:     http://127.0.0.1:" in capsys.readouterr().out
    cluster = LocalCluster.read(state)
    try:
        assert json.loads((state / "cluster.json").read_text())["ray_pid"] == cluster.ray_pid
        assert _status(f"{cluster.tracking_uri}/health") == 200
        assert _status(f"{cluster.dashboard_url}/api/version") in (200, 401)  # 401: token auth is on
        listening = {c.laddr.port: c.laddr.ip for c in psutil.net_connections("inet")
                     if c.status == "LISTEN" and c.pid in cluster.pids}
        for url in (cluster.dashboard_url, cluster.tracking_uri):  # the HTTP servers bind loopback only
            assert listening[int(url.rsplit(":", 1)[1])] in ("127.0.0.1", "::ffff:127.0.0.1")
        assert {"gcs_server", "raylet"} <= {psutil.Process(p).name() for p in cluster.pids if _alive(p)}
        with pytest.raises(ClusterError, match="already runs a cluster"):
            up(state)
        capsys.readouterr()
        assert main(["cluster", "status", "--state", str(state)]) == 0
        lines = capsys.readouterr().out.splitlines()
        table = lines[lines.index(next(line for line in lines if line.strip().startswith("pid"))) + 1:-1]
        roles = [line[18:44].strip() for line in table]
        assert {"Ray GCS", "Ray raylet", "Ray dashboard", "MLflow server"} <= set(roles)
        assert "MLflow job worker" not in roles and "other" not in roles, table  # nothing vidnas does not use
        alive = sorted(p.pid for leader in (cluster.ray_pid, cluster.mlflow_pid)
                       for p in [psutil.Process(leader), *psutil.Process(leader).children(recursive=True)])
        assert sorted(int(line.split()[0]) for line in table) == alive
        assert lines[-1] == f"{len(alive)} processes, {lines[-1].split()[2]} MB resident in all"
    finally:
        stopped = down(state)
    assert set(stopped) <= set(cluster.pids) and cluster.ray_pid in stopped
    assert [p for p in cluster.pids if _alive(p)] == []
    with pytest.raises(ClusterError, match="no local cluster here"):
        down(state)
