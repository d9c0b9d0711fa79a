"""`vidnas dashboard`: a real optuna-dashboard on a real Optuna journal, on 127.0.0.1, stopped by pid."""
from __future__ import annotations

import json
import urllib.request

import optuna
import pytest

from search.cli.dashboard import JOURNAL_FILE, start_dashboard
from search.cli.main import main
from search.engine.searcher import JOURNAL_FILE as SEARCH_JOURNAL, journal_storage
from search.net import stop


def test_the_dashboard_serves_the_search_journal(tmp_path) -> None:
    assert JOURNAL_FILE == SEARCH_JOURNAL
    study = optuna.create_study(study_name="demo-1234", storage=journal_storage(tmp_path),
                                directions=["maximize", "minimize"])
    for value in (0.3, 0.5, 0.4):
        study.enqueue_trial({"width": value})
        study.optimize(lambda t: (t.suggest_float("width", 0, 1), 1 - t.params["width"]), n_trials=1)
    proc, url = start_dashboard(tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:")
        studies = json.loads(urllib.request.urlopen(f"{url}/api/studies", timeout=10).read())["study_summaries"]
        assert [(s["study_name"], len(s["directions"])) for s in studies] == [("demo-1234", 2)]
        study_id = studies[0]["study_id"]
        detail = json.loads(urllib.request.urlopen(f"{url}/api/studies/{study_id}", timeout=10).read())
        assert [float(t["params"][0]["param_external_value"]) for t in detail["trials"]] == [0.3, 0.5, 0.4]
    finally:
        stop(proc)
    assert proc.poll() is not None  # stopped, by its pid


def test_no_journal_is_one_line(tmp_path, capsys) -> None:
    assert main(["dashboard", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no Optuna journal (optuna.journal) there" in err and "\n" not in err


@pytest.mark.parametrize("argv", [["dashboard", "--help"]])
def test_help(argv, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0 and "127.0.0.1" in capsys.readouterr().out
