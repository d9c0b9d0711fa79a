"""Tabulated benchmarks of the space: `vidnas bench build` trains every point of a declared
finite sub-space (a table of learning curves and costs), `vidnas bench replay` runs search
strategies against a table in simulated time (search.tabular.replay)."""
