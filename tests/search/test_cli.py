from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from search.cli.main import main
from spaces import PRESETS, ArchSpec, cost, get_preset


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow  # builds and counts every preset at full size (18 s)
def test_presets_table_shows_ours_and_the_reference(capsys) -> None:
    code, out, _ = _run(["presets"], capsys)
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line and line.split()[0] in PRESETS}
    assert set(lines) == set(PRESETS)
    s3d = lines["s3d"].split()
    assert s3d[2] == "64x224" and s3d[3] == "8,320,048" and s3d[5] == "8,320,048"
    assert float(s3d[4]) == pytest.approx(cost(get_preset("s3d")).gmacs, abs=0.005)
    assert "GMACs = multiply-adds" in out


def test_cost_json_matches_the_cost_model(capsys) -> None:
    code, out, _ = _run(["cost", "--preset", "vov3d_m", "--frames", "8", "--crop", "112", "--classes", "174",
                         "--json"], capsys)
    c = cost(get_preset("vov3d_m", frames=8, crop=112, num_classes=174))
    data = json.loads(out)
    assert code == 0 and data["params"] == c.params and data["gmacs"] == pytest.approx(c.gmacs)
    assert data["gflops"] == pytest.approx(2 * c.gmacs)


def test_spec_prints_json_that_cost_reads_back(capsys, tmp_path: Path) -> None:
    code, out, _ = _run(["spec", "--preset", "smallbig_r50", "--frames", "4"], capsys)
    assert code == 0 and ArchSpec.from_json(out) == get_preset("smallbig_r50", frames=4)
    path = tmp_path / "arch.json"
    path.write_text(out)
    code, out, _ = _run(["cost", "--spec", str(path), "--json"], capsys)
    assert json.loads(out)["params"] == cost(get_preset("smallbig_r50")).params


@pytest.mark.parametrize("argv, message", [
    (["cost", "--preset", "s3dg"], "vidnas: error: invalid preset='s3dg': unknown preset; did you mean s3d_g, s3d"),
    (["cost", "--preset", "s3d", "--frames", "4"], "temporal_kernel=3: must be <= 2*frames-1"),
    (["cost", "--spec", "/nonexistent/arch.json"], "vidnas: error: --spec /nonexistent/arch.json: no such file"),
    (["cost"], "vidnas: error: one of the arguments --preset --spec is required"),
    (["cost", "--preset", "s3d", "--frames", "many"], "argument --frames: invalid int value: 'many'"),
    (["frobnicate"], "vidnas: error: argument COMMAND: invalid choice: 'frobnicate'"),
    (["data", "info", "/nonexistent/store"], "vidnas: error: /nonexistent/store: no such directory"),
    (["data", "import", "/nonexistent", "--layout", "ucf101", "--out", "/tmp/x"],
     "vidnas: error: /nonexistent: no such directory"),
    (["data", "import", ".", "--layout", "youtube", "--out", "/tmp/x"],
     "vidnas: error: --layout 'youtube': unknown; available: ucf101, hmdb51, ssv2, kinetics, folder"),
    (["data", "synth", "x", "--size", "huge", "--out", "/tmp/x"],
     "vidnas: error: --size 'huge': unknown; available: tiny, demo, study, medium, large"),
    (["data", "import", ".", "--layout", "ucf101", "--out", "/tmp/x", "--frames", "0"],
     "vidnas: error: --frames must be >= 1, got 0"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys) -> None:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_spec_file_is_one_line(capsys, tmp_path: Path) -> None:
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(get_preset("s3d").to_dict() | {"frames": -3}))
    code, _, err = _run(["cost", "--spec", str(path)], capsys)
    assert code == 2 and err.strip() == "vidnas: error: invalid frames=-3: must be >= 1"
    path.write_text("{not json")
    code, _, err = _run(["cost", "--spec", str(path)], capsys)
    assert code == 2 and "is not valid JSON" in err and err.count("\n") == 1


def test_data_synth_and_info(capsys, tmp_path: Path) -> None:
    code, out, _ = _run(["data", "synth", "bench", "--size", "tiny", "--out", str(tmp_path / "s"), "--workers", "1"],
                        capsys)
    assert code == 0 and "{'train': 96, 'val': 48, 'test': 48}" in out
    code, out, _ = _run(["data", "info", str(tmp_path / "s")], capsys)
    assert code == 0 and "bench: clips of 16 frames x 32 x 32 x 3" in out
    assert "group motion: 2 classes, train 32, val 16, test 16" in out
    assert "time-reversal pairs: 2 (move_right/move_left, red_then_blue/blue_then_red)" in out


def test_console_script_is_installed() -> None:
    exe = shutil.which("vidnas", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("vidnas console script not installed in this environment (make test installs it)")
    proc = subprocess.run([exe, "presets", "--names-only"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.split() == list(PRESETS)
