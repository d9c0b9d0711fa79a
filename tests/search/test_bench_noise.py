"""`vidnas bench noise`: a table's seed noise, on a table whose answers are worked out by hand."""
from __future__ import annotations

import math

import pytest

from search.cli.main import main
from search.pareto import hypervolume
from search.tabular.noise import noise
from search.tabular.table import Table

# final val top-1 at seeds 0 and 1, GMACs, epoch seconds at seeds 0 and 1 (2 epochs each)
POINTS = {"A": ((0.50, 0.54), 1.0, (5.0, 10.0)), "B": ((0.60, 0.56), 2.0, (5.0, 5.0)),
          "C": ((0.56, 0.64), 3.0, (5.0, 5.0)), "D": ((0.30, 0.30), 4.0, (5.0, 5.0))}


def _table() -> Table:
    rows = []
    for p, (acc, gmacs, seconds) in POINTS.items():
        for seed in (0, 1):
            for epoch in (1, 2):
                rows.append({"point": p, "seed": seed, "epoch": epoch, "val_top1": acc[seed] - (2 - epoch) * 0.1,
                             "test_top1": acc[seed] - 0.01, "gmacs": gmacs, "epoch_seconds": seconds[seed]})
    return Table.from_rows(rows, {p: {"spec": "{}"} for p in POINTS}, {"val_top1": "max", "gmacs": "min"}, {})


def test_noise_figures_of_a_table_worked_out_by_hand(tmp_path, capsys) -> None:
    n = noise(_table())
    # one run's SD: per point (a - b)^2 / 2, pooled over 4 points (4 dof): (0.0008 + 0.0008 + 0.0032) / 4
    assert n["seed_sd"] == pytest.approx(math.sqrt(0.0048 / 4)) and n["seed_sd_dof"] == 4
    # seed means A 0.52, B 0.58, C 0.60, D 0.30: the front is A, B, C by cost; gaps 0.06 and 0.02
    assert n["front"] == ["A", "B", "C"] and n["front_gap_median"] == pytest.approx(0.04)
    # B and C are 0.02 apart (within 0.03 and within one SD): B leads at seed 0, C at seed 1
    assert n["swaps_close"] == (1, 1) and n["swaps_within_sd"] == (1, 1)
    # seed 0 alone puts C behind B (off the front); seed 1 alone agrees with the means
    zero, one = n["fronts"][0], n["fronts"][1]
    assert (zero["size"], zero["common"], zero["jaccard"]) == (2, 2, pytest.approx(2 / 3))
    assert (one["size"], one["common"], one["jaccard"]) == (3, 3, 1.0)
    reference = (0.0, math.log10(1.1 * 4.0))
    assert zero["hv"] == pytest.approx(hypervolume([(0.50, 0.0), (0.60, math.log10(2.0))], reference))
    # A's epochs took twice as long at seed 1: the ratio per point, median 1, max 2
    assert (n["epoch_seconds_ratio_median"], n["epoch_seconds_ratio_max"]) == (1.0, 2.0)
    path = tmp_path / "t.parquet"
    _table().write(path)
    assert main(["bench", "noise", str(path), "--out", str(tmp_path / "noise.md")]) == 0
    out = capsys.readouterr().out
    assert "| pairs within 0.03 whose order differs between seeds 0 and 1 | 1 of 1 (100%) |" in out
    assert (tmp_path / "noise.md").read_text().strip() == out.strip()


def test_a_table_at_one_seed_is_refused_in_one_line(tmp_path, capsys) -> None:
    table = _table()
    one = Table([r for r in table.rows if r["seed"] == 0], table.objectives, table.reference, table.provenance)
    one.write(tmp_path / "one.parquet")
    assert main(["bench", "noise", str(tmp_path / "one.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no point trained at two seeds" in err and "\n" not in err
