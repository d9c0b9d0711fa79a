"""Studies: a paper's claim as a re-runnable experiment with a verdict.

- `config`: StudyConfig (arms, claims, seeds), loaded from YAML and checked in one line per error;
- `runner`: Study.run (arms x seeds through the search engine, a joint search, latency);
- `latency`: one timing round in a fresh process (independent replicates);
- `analysis`: analyze(study_dir) -> StudyResult (effects on the test split, intervals, Holm, verdicts);
- `stats`: the statistics, pure functions tested on known inputs and under the null;
- `report`, `plots`: report.md / report.html, plots, summary.json, the index page.

Nothing is imported here: `vidnas --help` must stay light.
"""
