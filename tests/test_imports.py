"""Import structure: no cycles between modules or packages (every import statement counts, also
those inside functions), and light entry points: `search.record.results`, `vidnas --help` and
`vidnas presets --names-only` load neither Ray nor torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = ("spaces", "search", "cluster")
SUBPACKAGES = ("search.data", "search.trial", "search.record", "search.engine", "search.cli", "search.studies",
               "search.tabular")


def _modules() -> dict[str, Path]:
    out = {}
    for top in TOP:
        for path in (ROOT / top).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            out[name] = path
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t.split(".")[0] in TOP and t != name}
    return graph


def _package(module: str) -> str:
    return next((p for p in SUBPACKAGES if module == p or module.startswith(p + ".")), module.split(".")[0])


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle's node list (Tarjan's strongly connected components of size > 1)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_the_checker_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules() -> None:
    graph = _graph()
    assert sum(len(v) for v in graph.values()) > 100  # it read the code
    assert _cycles(graph) == []


def test_no_import_cycles_between_packages() -> None:
    packages: dict[str, set[str]] = defaultdict(set)
    for a, targets in _graph().items():
        packages[_package(a)] |= {_package(b) for b in targets if _package(b) != _package(a)}
    assert set(packages) >= {"search", "search.data", "search.studies", "search.tabular", "cluster"}
    assert _cycles(packages) == []
    assert "search" not in packages["spaces"]  # the space knows nothing of searching


# Bottom to top: a package imports only packages on lower layers (one layer may hold several).
LAYERS = (("spaces",), ("search",), ("search.data",), ("search.record",), ("search.trial",), ("search.engine",),
          ("search.cli",), ("search.studies", "search.tabular"), ("cluster",))


def test_imports_point_down_the_layers() -> None:
    """search (errors, net, pareto) <- data <- record <- trial <- engine <- cli <- studies, tabular
    <- cluster: the search directory's record knows nothing of training, a trial nothing of the
    engine that schedules it."""
    layer = {p: i for i, group in enumerate(LAYERS) for p in group}
    up = sorted({(a, b) for a, targets in _graph().items() for b in targets
                 if layer[_package(b)] > layer[_package(a)]})
    assert set(layer) >= {_package(m) for m in _modules()}
    assert up == []


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


HEAVY = {"ray", "torch", "mlflow", "optuna"}


@pytest.mark.parametrize("code", [
    "import search.record.results",
    "import search.pareto, search.errors, spaces.spec",
    "import contextlib, io\nfrom search.cli.main import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
    "    try:\n        main(['--help'])\n    except SystemExit:\n        pass",
    "import contextlib, io\nfrom search.cli.main import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
    "    main(['presets', '--names-only'])",
])
def test_light_entry_points_load_neither_ray_nor_torch(code) -> None:
    loaded = _loaded_after(code)
    assert "search" in loaded or "spaces" in loaded
    assert not HEAVY & loaded, HEAVY & loaded


def test_the_ui_loads_mlflow_s_client_and_little_else() -> None:
    """`vidnas ui` needs the MLflow client; the search config it reads comes without torch, Ray or
    Optuna (before the package layout it loaded the tuner: 3,625 modules)."""
    ui = _loaded_after("import search.cli.ui")
    client = _loaded_after("import mlflow.tracking")
    assert not {"ray", "torch", "optuna"} & ui
    assert len(ui - client) < 100, sorted(ui - client)


@pytest.mark.parametrize("module, allowed", [
    ("search.engine.config", set()), ("search.studies.analysis", {"torch"}), ("search.record.registry", {"torch", "mlflow"}),
])
def test_readers_of_records_do_not_start_the_engine(module, allowed) -> None:
    assert HEAVY & _loaded_after(f"import {module}") <= allowed


def test_a_command_loads_its_own_module_only() -> None:
    loaded = _loaded_after("import contextlib, io\nfrom search.cli.main import main\n"
                           "with contextlib.redirect_stdout(io.StringIO()):\n    try:\n"
                           "        main(['bench', 'effects', '--help'])\n    except SystemExit:\n        pass")
    assert "search.tabular.commands" in loaded
    assert not {"search.cli.commands", "cluster.commands", "search.studies.commands", "ray"} & loaded
