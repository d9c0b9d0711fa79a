"""`bench/gpu.py` in smoke mode on the CPU: the GPU benchmark's code paths (the trial's training
loop on resident batches, packed trial processes with their shared-device lock, the loader into
the device, latency alone, next to a neighbour and in the exclusive phase) run, and every figure
it reports is a measured, positive number."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_the_gpu_benchmark_runs_in_smoke_mode_on_a_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, "bench/gpu.py", "--smoke", "--device", "cpu", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["device"] == "cpu" and r["smoke"] is True and r["peak_bf16_tflops"] is None
    assert [(t["preset"], t["batch"]) for t in r["throughput"]] == [("s3d", 4), ("vov3d_m", 4)]
    assert all(t["clips_per_s"] > 0 and t["gmacs_per_clip"] > 0 and t["peak_fraction"] is None for t in r["throughput"])
    assert all(t["tflops_counted"] * 1e12 == pytest.approx(t["clips_per_s"] * t["gmacs_per_clip"] * 6e9)
               for t in r["throughput"])
    assert [p["trials"] for p in r["packing"]] == [1, 2]
    assert [len(p["per_trial"]) for p in r["packing"]] == [1, 2]
    assert all(x > 0 for p in r["packing"] for x in p["per_trial"]) and r["packing"][0]["x_alone"] == 1.0
    assert r["packing"][1]["x_alone"] == pytest.approx(sum(r["packing"][1]["per_trial"]) / r["packing"][0]["per_trial"][0])
    assert [x["workers"] for x in r["loader"]] == [0] and r["loader"][0]["clips_per_s"] > 0
    assert [x["case"] for x in r["latency"]] == ["alone", "next to a training trial", "next to it, exclusive phase"]
    assert all(0 < x["min_ms"] <= x["median_ms"] <= x["max_ms"] for x in r["latency"])
    assert "trials on one device" in done.stdout and "of peak" in done.stdout
