"""bench/gpu_studies.py: the studies' runs trained by a torch-only loop (the GPU machine has no
Ray, MLflow or YAML), written as a study's results table, and analysed here like any study, with
the store left on the machine that ran them."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow  # trains 10 toy runs (about a minute on 2 cores)
def test_gpu_study_runs_are_a_study_the_analysis_reads(tmp_path) -> None:
    import yaml

    from search.studies.analysis import analyze

    study = yaml.safe_load((ROOT / "configs" / "studies" / "smallbig.yaml").read_text())
    study["arms"] = [a for a in study["arms"] if a["name"] in ("tsn", "smallbig_shared")]
    study["claims"] = [c for c in study["claims"] if c["id"] == "big_view_beats_2d"]
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "smallbig.yaml").write_text(yaml.safe_dump(study))
    out = tmp_path / "out"
    script = [sys.executable, str(ROOT / "bench" / "gpu_studies.py")]
    subprocess.run([*script, "plan", str(out), "--size", "tiny", "--regimes", "temporal", "--epochs", "2",
                    "--configs", str(tmp_path / "configs")], check=True, capture_output=True)
    plan = json.loads((out / "plan.json").read_text())
    assert {r["arm"] for r in plan["runs"]} == {"tsn", "smallbig_shared"}
    assert len(plan["runs"]) == 2 * (3 + 2)  # every arm at the 3 seeds and the 2 half-budget seeds
    tmp_path = out
    done = subprocess.run([*script, "run", str(tmp_path), "--smoke"], check=True, capture_output=True, text=True)
    assert done.stdout.count("test top-1") == 10
    again = subprocess.run([*script, "run", str(tmp_path), "--smoke"], check=True, capture_output=True, text=True)
    assert again.stdout == ""  # resumed: every run is in its table already
    shutil.rmtree(tmp_path / "data")  # the store stays on the GPU machine
    result = analyze(tmp_path / "smallbig_temporal")
    assert result.regime == "temporal"  # from store_facts.json
    assert len(result.runs) == 6 and len(result.half_runs) == 4
    assert set(result.arm_adequacy) == {"tsn", "smallbig_shared"}
    claim = next(c for c in result.claims if c.claim.id == "big_view_beats_2d")
    assert claim.replicates == "seeds x test clips" and claim.half is not None
    assert claim.verdict == "undertrained"  # 2 toy epochs: the adequacy rule says so, as it should
