"""Is a network trained? The adequacy rule a study fixes before it runs (`AdequacyRule`), applied
to each run's learning curves, and to each arm over its seeds.

A verdict on networks that are still learning depends on where training stopped (the sign of
S3D-vs-I3D flipped between 5 and 12 epochs on the built-in benchmark), so a claim is decided only
on arms whose runs have flattened out and learned:

- a run is adequate when its validation top-1 gained less than `max_val_gain` over the last
  `last_fraction` of its epochs (the last epoch's value against the best value before that window)
  and its final train loss is at most `max_train_loss_ratio` x ln(classes), the loss of a uniform
  guess;
- an arm is adequate when at most `max_failed_seeds` of its runs are not (a seed that failed to
  train is one run); its inadequate runs are left out of every claim.

Example:
    >>> from search.studies.config import AdequacyRule
    >>> rule = AdequacyRule(last_fraction=0.25, max_val_gain=0.02, max_train_loss_ratio=0.6)
    >>> check_run([0.2, 0.5, 0.6, 0.61], [2.5, 1.5, 1.2, 1.1], classes=18, rule=rule)
    RunAdequacy(adequate=True, val_gain=0.01, train_loss=1.1, loss_limit=1.734, reason='')
    >>> check_run([0.2, 0.4, 0.5, 0.6], [2.5, 2.0, 1.9, 1.8], classes=18, rule=rule).reason
    'val top-1 still gained 0.100 (>= 0.02) over the last 1 of 4 epochs; train loss 1.80 > 1.73'
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from search.studies.config import AdequacyRule


@dataclass(frozen=True)
class RunAdequacy:
    adequate: bool
    val_gain: float  # over the last window: last value - best value before it
    train_loss: float  # at the last epoch
    loss_limit: float  # max_train_loss_ratio x ln(classes)
    reason: str = ""  # why not, in words


def window(epochs: int, rule: AdequacyRule) -> int:
    """The number of final epochs the rule looks at: last_fraction of them, at least 1."""
    return max(1, round(epochs * rule.last_fraction))


def check_run(val_top1: Sequence[float], train_loss: Sequence[float], *, classes: int,
              rule: AdequacyRule) -> RunAdequacy:
    """The rule on one run's curves (one value per epoch)."""
    n = len(val_top1)
    limit = round(rule.max_train_loss_ratio * math.log(classes), 3)
    if n < 2 or len(train_loss) != n or not all(math.isfinite(v) for v in [*val_top1, *train_loss]):
        return RunAdequacy(False, math.nan, math.nan, limit, f"no complete learning curve ({n} epochs)")
    k = min(window(n, rule), n - 1)
    gain = round(val_top1[-1] - max(val_top1[:n - k]), 6)
    loss = train_loss[-1]
    reasons = []
    if gain >= rule.max_val_gain:
        reasons.append(f"val top-1 still gained {gain:.3f} (>= {rule.max_val_gain:g}) over the last {k} of {n} epochs")
    if loss > limit:
        reasons.append(f"train loss {loss:.2f} > {limit:.2f}")
    return RunAdequacy(not reasons, gain, loss, limit, "; ".join(reasons))


def check_runs(rows: list[dict[str, Any]], *, classes: int, rule: AdequacyRule) -> dict[tuple[str, int], RunAdequacy]:
    """(arm, seed) -> the rule on that run, for the complete runs of a study's results table."""
    out = {}
    for r in rows:
        if r["state"] == "complete" and r.get("seed") is not None:
            out[(r["preset"], r["seed"])] = check_run(r.get("curve_val_top1") or [], r.get("curve_train_loss") or [],
                                                      classes=classes, rule=rule)
    return out


@dataclass(frozen=True)
class ArmAdequacy:
    adequate: bool
    runs: int
    failed_seeds: tuple[int, ...]  # seeds whose run is not adequate (left out of every claim)
    reason: str = ""


def check_arms(runs: dict[tuple[str, int], RunAdequacy], seeds: Sequence[int], rule: AdequacyRule
               ) -> dict[str, ArmAdequacy]:
    """Per arm: adequate when at most `max_failed_seeds` of the study's seeds have no adequate run
    (a seed that did not complete counts as failed)."""
    out = {}
    for arm in sorted({a for a, _ in runs}):
        failed = tuple(s for s in seeds if not (runs.get((arm, s)) and runs[(arm, s)].adequate))
        ok = len(failed) <= rule.max_failed_seeds
        reasons = [f"seed {s}: {runs[(arm, s)].reason if (arm, s) in runs else 'did not complete'}" for s in failed]
        out[arm] = ArmAdequacy(ok, sum(1 for a, _ in runs if a == arm), failed, "; ".join(reasons))
    return out
