"""`vidnas dashboard SEARCH_DIR`: optuna-dashboard on the search's Optuna journal, on 127.0.0.1
only, in its own process (stopped by its pid on Ctrl-C)."""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from search.errors import SearchError
from search.net import free_port, serve_until_interrupted, stop

JOURNAL_FILE = "optuna.journal"  # search.engine.searcher.JOURNAL_FILE (not imported: it loads Ray)
SERVE = ("import sys, optuna, optuna_dashboard\n"
         "storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(sys.argv[1]))\n"
         "optuna_dashboard.run_server(storage, host='127.0.0.1', port=int(sys.argv[2]))\n")


def start_dashboard(search_dir: Path, *, port: int | None = None,
                    timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Start optuna-dashboard on the search's journal; the process and its URL once it answers."""
    journal = Path(search_dir).expanduser().resolve() / JOURNAL_FILE
    if not journal.is_file():
        raise SearchError(f"{search_dir}: no Optuna journal ({JOURNAL_FILE}) there; is it a search directory "
                          "whose search has started?")
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(journal), str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # stopped as a group
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SearchError(f"optuna-dashboard exited with status {proc.returncode}: "
                              f"{(proc.stderr.read() or '').strip().splitlines()[-1:]}")
        try:
            urllib.request.urlopen(f"{url}/api/studies", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.3)
    stop(proc)
    raise SearchError(f"optuna-dashboard did not answer on {url} within {timeout:.0f} s")


def add_dashboard(p: argparse.ArgumentParser) -> None:
    p.add_argument("search_dir", type=Path, help="a search directory (it holds optuna.journal)")
    p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")


def run_dashboard(args: argparse.Namespace) -> int:
    proc, url = start_dashboard(args.search_dir, port=args.port)
    return serve_until_interrupted(proc, f"optuna-dashboard of {args.search_dir}: {url}  (pid {proc.pid}; Ctrl-C stops it)")
