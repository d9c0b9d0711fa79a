"""The `vidnas` command line: a table of lazily loaded commands (`main`), one module per group:
`commands` (search, train, report, export, ...), `presets`, `ui`, `dashboard`; the studies' and the
tabulated benchmark's commands live with them (`search.studies.commands`, `search.tabular.commands`)."""
from search.cli.main import main

__all__ = ["main"]
