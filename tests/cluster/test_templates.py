"""The deployment templates parse and say what the README says they do."""
from __future__ import annotations

from pathlib import Path

import yaml

from search.engine.config import SearchConfig

TEMPLATES = Path(__file__).resolve().parents[2] / "cluster" / "templates"


def test_ray_cluster_launcher() -> None:
    cfg = yaml.safe_load((TEMPLATES / "ray-cluster-aws.yaml").read_text())
    assert cfg["available_node_types"]["head"]["resources"] == {"CPU": 0}  # the driver holds no GPU
    assert any("torch==2.13.0" in c for c in cfg["setup_commands"])
    assert any("--dashboard-host=127.0.0.1" in c for c in cfg["head_start_ray_commands"])
    assert not any("efs" in c or "mount" in c for c in cfg["setup_commands"])  # no shared filesystem
    assert all("IamInstanceProfile" in t["node_config"] for t in cfg["available_node_types"].values())


def test_kuberay_cluster_job_and_mlflow_server_need_no_shared_volume() -> None:
    cluster, job, mlflow, service = yaml.safe_load_all((TEMPLATES / "kuberay-raycluster.yaml").read_text())
    assert [d["kind"] for d in (cluster, job, mlflow, service)] == ["RayCluster", "RayJob", "Deployment", "Service"]
    assert cluster["spec"]["rayVersion"] == "2.60.0"
    pods = [cluster["spec"]["headGroupSpec"]["template"]["spec"]] + [
        g["template"]["spec"] for g in cluster["spec"]["workerGroupSpecs"]]
    assert all("volumes" not in p and all("volumeMounts" not in c for c in p["containers"]) for p in pods)
    assert job["spec"]["entrypoint"] == "python -m search.cli.main search --config-env VIDNAS_CONFIG"
    assert job["spec"]["clusterSelector"]["ray.io/cluster"] == cluster["metadata"]["name"]
    # the config the job runs is a valid search config: state in S3, an MLflow server
    config = yaml.safe_load(yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]["VIDNAS_CONFIG"])
    cfg = SearchConfig.from_dict(config)
    assert cfg.remote and cfg.storage.startswith("s3://") and cfg.tracking_uri == "http://mlflow.vidnas.svc:5000"
    assert cfg.tracking_uri.removeprefix("http://").split(".")[0] == service["metadata"]["name"]
    server = " ".join(mlflow["spec"]["template"]["spec"]["containers"][0]["args"])
    assert "--serve-artifacts --artifacts-destination s3://" in server


def test_mlflow_server_with_postgres_and_object_store() -> None:
    compose = yaml.safe_load((TEMPLATES / "mlflow-server-compose.yaml").read_text())
    command = compose["services"]["mlflow"]["command"]
    assert "postgresql://" in command and "--serve-artifacts --artifacts-destination s3://" in command
