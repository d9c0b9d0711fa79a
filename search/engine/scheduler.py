"""Early stopping that is correct under two objectives: asynchronous successive halving whose
rungs rank trials by non-dominated sorting (MO-ASHA, Schmucker et al. 2021), not by accuracy alone.

At each rung (epochs = min_epochs * eta^k below max_epochs) a trial is compared with every trial
that reached the rung before it; it goes on if it is on their Pareto front, or among the best
ceil(n / eta) by Pareto rank with ties broken by crowding distance. A cheap architecture that
learns slower is on the front by its cost and survives. Stopped trials are PRUNED in Optuna, KILLED and
tagged pruned in MLflow, and never on the Pareto front: their truncated accuracy is not a final result.

With `by_batch` (a search's `reproducible_order`), a trial is compared only with the trials of
earlier batches (`search.engine.searcher`: a batch starts when the one before has ended), so its
decision does not depend on which of its batch-mates reported first.

Tune does not checkpoint its scheduler, so this one saves itself: every decision goes to
`state_file` (JSON: the rungs' points, each decision, the stopped trials) before Tune acts on it, and
a scheduler given an existing file continues from it. A decision is made once per trial and rung: a
trial that reports a rung again after a resume (Tune's snapshot was older than the decision) gets
the same answer, and a trial stopped before a hard kill is stopped again at its first result.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from search.engine.searcher import BATCH_KEY
from search.pareto import pareto_ranks, survivors
from spaces import atomic


class MOASHAScheduler(FIFOScheduler):
    """Asynchronous multi-objective successive halving on reported `epoch`."""

    def __init__(self, *, objectives: dict[str, str], max_epochs: int, min_epochs: int, reduction_factor: int,
                 state_file: str | None = None, by_batch: bool = False) -> None:
        super().__init__()
        self.objectives = objectives
        self.eta = reduction_factor
        self.state_file = state_file
        self.by_batch = by_batch  # reproducible order: a trial is compared with earlier batches only
        self.rungs: dict[int, dict[str, tuple[float, ...]]] = {}
        self.decisions: dict[int, dict[str, str]] = {}
        self.batches: dict[str, int] = {}
        epoch = min_epochs
        while epoch < max_epochs:
            self.rungs[epoch], self.decisions[epoch] = {}, {}
            epoch *= reduction_factor
        if state_file is not None and Path(state_file).is_file():
            self._load(json.loads(Path(state_file).read_text()))

    def _load(self, state: dict[str, Any]) -> None:
        for epoch, points in state["rungs"].items():
            if int(epoch) not in self.rungs:
                raise ValueError(f"{self.state_file}: rung at epoch {epoch} is not one of this scheduler's "
                                 f"{list(self.rungs)}; the search's epochs or min_epochs changed")
            self.rungs[int(epoch)] = {t: tuple(p) for t, p in points.items()}
        self.decisions |= {int(e): dict(d) for e, d in state["decisions"].items()}
        self.batches |= state.get("batches", {})

    @property
    def stopped(self) -> set[str]:
        """The trials a rung decision stopped."""
        return {t for rung in self.decisions.values() for t, d in rung.items() if d == TrialScheduler.STOP}

    def state(self) -> dict[str, Any]:
        return {"rungs": {str(e): {t: list(p) for t, p in r.items()} for e, r in self.rungs.items()},
                "decisions": {str(e): d for e, d in self.decisions.items()}, "stopped": sorted(self.stopped)} | (
                    {"batches": self.batches} if self.by_batch else {})

    def _save(self) -> None:
        if self.state_file is None:
            return
        atomic.write_text(self.state_file, json.dumps(self.state()))

    def _point(self, result: dict[str, Any]) -> tuple[float, ...] | None:
        values = []
        for metric, mode in self.objectives.items():
            value = result.get(metric)
            if not isinstance(value, (int, float)) or math.isnan(value):
                return None
            values.append(-value if mode == "max" else value)
        return tuple(values)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if trial.trial_id in self.stopped:  # stopped before a hard kill that Tune's snapshot predates
            return TrialScheduler.STOP
        epoch = result.get("epoch")
        if epoch not in self.rungs or result.get("status") != "running":
            return TrialScheduler.CONTINUE
        decided = self.decisions[epoch].get(trial.trial_id)
        if decided is not None:  # the same result again, after a resume: the same answer
            return decided
        point = self._point(result)
        if point is None:
            return TrialScheduler.CONTINUE
        rung = self.rungs[epoch]
        rung[trial.trial_id] = point
        ids = list(rung)
        if self.by_batch:  # what ended before this trial's batch began, in an order of values not of arrival
            batch = self.batches.setdefault(trial.trial_id, int(trial.config.get(BATCH_KEY, 0)))
            earlier = [i for i in ids if i != trial.trial_id and self.batches.get(i, 0) < batch]
            ids = sorted(earlier, key=lambda i: (rung[i], i)) + [trial.trial_id]
        points = [rung[i] for i in ids]
        me = ids.index(trial.trial_id)
        if pareto_ranks(points)[me] == 0 or me in survivors(points, math.ceil(len(ids) / self.eta)):
            decision = TrialScheduler.CONTINUE
        else:
            decision = TrialScheduler.STOP
        self.decisions[epoch][trial.trial_id] = decision
        self._save()
        return decision

    def debug_string(self) -> str:
        return "MO-ASHA rungs " + ", ".join(f"{e}: {len(r)} trials" for e, r in self.rungs.items())
