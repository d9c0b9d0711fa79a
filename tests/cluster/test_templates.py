"""The deployment templates parse and say what the README says they do."""
from __future__ import annotations

from pathlib import Path

import yaml

TEMPLATES = Path(__file__).resolve().parents[2] / "cluster" / "templates"


def test_ray_cluster_launcher() -> None:
    cfg = yaml.safe_load((TEMPLATES / "ray-cluster-aws.yaml").read_text())
    assert cfg["available_node_types"]["head"]["resources"] == {"CPU": 0}  # the driver holds no GPU
    assert any("torch==2.13.0" in c for c in cfg["setup_commands"])
    assert any("--dashboard-host=127.0.0.1" in c for c in cfg["head_start_ray_commands"])


def test_kuberay_cluster_and_job() -> None:
    cluster, job = yaml.safe_load_all((TEMPLATES / "kuberay-raycluster.yaml").read_text())
    assert (cluster["kind"], job["kind"]) == ("RayCluster", "RayJob")
    assert cluster["spec"]["rayVersion"] == "2.60.0"
    assert "search.cli search" in job["spec"]["entrypoint"]
    assert job["spec"]["clusterSelector"]["ray.io/cluster"] == cluster["metadata"]["name"]


def test_mlflow_server_with_postgres_and_object_store() -> None:
    compose = yaml.safe_load((TEMPLATES / "mlflow-server-compose.yaml").read_text())
    command = compose["services"]["mlflow"]["command"]
    assert "postgresql://" in command and "--artifacts-destination s3://" in command
