"""Submitting a search to a real local cluster (Ray head + MLflow server on 127.0.0.1) through the
Ray Jobs API, then finding its runs on the server and reusing the best architecture."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from cluster.jobs import submit, wait
from cluster.local import ClusterError, down, up
from search.cli.main import main
from search.data.synth import write_synth
from search.record.export import checkpoint_state, export, select
from search.record.registry import register
from search.record.results import read_results
import spaces

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_submit_a_search_to_a_local_cluster_and_reuse_what_it_found(tmp_path: Path) -> None:
    store = tmp_path / "tiny"
    write_synth(store, size_name="tiny", seed=0, workers=1, progress=False)
    config = {"name": "job", "data": str(store), "storage": str(tmp_path / "results"), "trials": 2, "epochs": 1,
              "min_epochs": 1, "early_stopping": False, "concurrency": 2, "sampler": "random",
              "space": {"frames": [8], "crop": 32, "widths": [0.125], "depths": [0.34], "families": ["resnet"],
                        "backbones": ["resnet50"]}, "optim": {"batch_size": 16}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    cluster = up(tmp_path / "cluster", num_cpus=2)
    try:
        with pytest.raises(ClusterError, match="does not answer"):
            submit(path, cluster.dashboard_url, tracking_uri="http://127.0.0.1:9")
        with pytest.raises(ClusterError, match="needs a tracking server"):
            submit(path, cluster.dashboard_url)
        job = submit(path, cluster.dashboard_url, tracking_uri=cluster.tracking_uri)
        assert wait(cluster.dashboard_url, job, timeout=600) == "SUCCEEDED"

        client = MlflowClient(cluster.tracking_uri)
        experiment = client.get_experiment_by_name("job")
        runs = client.search_runs([experiment.experiment_id])
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        assert len(parents) == 1 and parents[0].info.status == "FINISHED"
        assert len(children) == 2 and {c.info.status for c in children} == {"FINISHED"}
        assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}

        search_dir = tmp_path / "results" / "job"
        rows = read_results(search_dir)
        assert sorted(r["trial_id"] for r in rows) == sorted(c.data.tags["vidnas.trial_id"] for c in children)
        exported = export(search_dir, tmp_path / "exports", select(rows, best="val_top1"))
        model = spaces.load(exported[0])
        state = checkpoint_state(search_dir, exported[0].name)
        reference = spaces.build(spaces.ArchSpec.from_json(state["spec"]))
        reference.load_state_dict(state["model"])
        clip = torch.randn(2, 3, 8, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(model(clip), reference.eval()(clip))
        run_id = json.loads((exported[0] / "card.json").read_text())["source"]["mlflow_run_id"]
        assert run_id in {c.info.run_id for c in children}

        # the same trial exported from its MLflow run id
        assert main(["export", run_id, "--tracking-uri", cluster.tracking_uri, "--out", str(tmp_path / "by_run")]) == 0
        torch.testing.assert_close(spaces.load(tmp_path / "by_run" / exported[0].name)(clip), model(clip))

        # the registry, through the server: register the best trial's run, load it back by alias
        info = register(run_id, "job-best", alias="champion", tracking_uri=cluster.tracking_uri)
        assert info["run_id"] == run_id
        again = spaces.load("models:/job-best@champion", tracking_uri=cluster.tracking_uri)
        with torch.no_grad():
            torch.testing.assert_close(again(clip), model(clip))
    finally:
        stopped = down(tmp_path / "cluster")
    assert cluster.ray_pid in stopped
