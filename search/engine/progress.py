"""What a search says while it runs: one line per trial event (start, rung decision, end) and a
live status line (tqdm: done/running, pruned, failed, front size, hypervolume, elapsed, ETA), and
the same summary as the parent MLflow run's metrics, stepped by trials ended, so its charts show
the search's progress.

Hypervolume (two objectives, an accuracy and a cost): of the complete trials' validation front,
over (accuracy, log10 cost), against a reference fixed when the search starts: accuracy 0 and the
GMACs budget, or without one the space's largest architecture (every stage 3D at the widest,
deepest, longest choices).
"""
from __future__ import annotations

import sys
from typing import Any

import optuna
from ray import tune
from tqdm import tqdm

from search.pareto import front_hypervolume
from spaces.bounds import BACKBONES, SpaceBounds
from spaces.sample import sample_arch
from spaces.spec import stage_param


def hv_reference(bounds: SpaceBounds, objectives: dict[str, str], *, stored_frames: int) -> dict[str, float]:
    """Accuracies: 0; GMACs per view: the budget, or the space's largest architecture's; GMACs per
    clip: that times the most evaluation views any frame count of the space gets from clips of
    `stored_frames`."""
    from search.data.loader import eval_views
    from spaces.cost import cost

    ref = {k: 0.0 for k, v in objectives.items() if v == "max"}
    if "gmacs" in objectives or "gmacs_clip" in objectives:
        if bounds.max_gmacs is not None:
            per_view = bounds.max_gmacs
        else:
            per_view = max(cost(sample_arch(optuna.trial.FixedTrial(_largest(bounds, b)), bounds)).gmacs
                           for b in bounds.backbone_choices())
        views = max(eval_views(stored_frames, f) for f in bounds.frames)
        ref |= {k: per_view * (views if k == "gmacs_clip" else 1) for k in ("gmacs", "gmacs_clip") if k in objectives}
    return ref


def _largest(bounds: SpaceBounds, backbone: str) -> dict[str, Any]:
    temporal = "3d" if "3d" in bounds.temporal_ops else bounds.temporal_ops[-1]
    params: dict[str, Any] = {"backbone": backbone, "frames": max(bounds.frames), "width": max(bounds.widths),
                              "depth": max(bounds.depths), "gate": bounds.gates[0], "stem_temporal_op": temporal,
                              "gate_bias": False}
    for i in range(1, len(BACKBONES[backbone].stages) + 1):
        params |= {stage_param(i, "temporal_op"): temporal, stage_param(i, "temporal_kernel"): max(bounds.temporal_kernels),
                   stage_param(i, "big_view"): bounds.big_views[0], stage_param(i, "tosa_depth"): max(bounds.tosa_depths),
                   stage_param(i, "squeeze_excite"): bounds.squeeze_excites[0]}
    return params


def summary(rows: list[dict[str, Any]], objectives: dict[str, str], reference: dict[str, float]) -> dict[str, float]:
    """trials_complete / _pruned / _failed, front_size, hypervolume, best_val_top1 of the rows."""
    count = {s: sum(r["state"] == s for r in rows) for s in ("complete", "pruned", "failed")}
    complete = [r for r in rows if r["state"] == "complete"]
    front = [r for r in complete if r.get("pareto")]
    out = {f"trials_{s}": float(n) for s, n in count.items()} | {"front_size": float(len(front))}
    hv = front_hypervolume(front, objectives, reference) if reference else None
    if hv is not None:
        out["hypervolume"] = hv
    tops = [r["val_top1"] for r in complete if isinstance(r.get("val_top1"), (int, float))]
    if tops:
        out["best_val_top1"] = max(tops)
    return out


class Terminal:
    """Event lines above a live status bar (a bar only on a terminal)."""

    def __init__(self, total: int, verbose: int) -> None:
        self.total, self.verbose = total, verbose
        self._bar: tqdm | None = None

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles callbacks; the bar stays in this process
        return {**self.__dict__, "_bar": None}

    @property
    def bar(self) -> tqdm:
        if self._bar is None:
            self._bar = tqdm(total=self.total, desc="trials", unit="trial", file=sys.stderr, disable=None,
                             dynamic_ncols=True, leave=True)
        return self._bar

    def event(self, line: str, *, level: int = 1) -> None:
        if self.verbose >= level:
            self.bar.write(line, file=sys.stdout)

    def status(self, ended: int, running: int, summary_: dict[str, float]) -> None:
        bar = self.bar
        bar.update(max(0, ended - bar.n))  # tqdm's own rate, elapsed time and ETA
        hv = summary_.get("hypervolume")
        bar.set_postfix_str(f"running {running}, pruned {int(summary_['trials_pruned'])}, failed "
                            f"{int(summary_['trials_failed'])}, front {int(summary_['front_size'])}"
                            + (f", HV {hv:.3f}" if hv is not None else ""), refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class ProgressCallback(tune.Callback):
    """Start and rung-decision lines (the end line and the status come from TrackingCallback)."""

    def __init__(self, terminal: Terminal, scheduler: Any, presets: dict[str, str] | None = None) -> None:
        self.terminal, self.scheduler, self.presets = terminal, scheduler, presets or {}
        self._said: set[tuple[str, int]] = set()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from spaces.spec import ArchSpec

        arch = trial.config.get("arch")
        name = ArchSpec.from_json(arch).title(self.presets.get(arch, "")) if arch else ""
        self.terminal.event(f"[vidnas] trial {trial.trial_id} started: {name}")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        decisions = getattr(self.scheduler, "decisions", {})
        epoch = result.get("epoch")
        decision = decisions.get(epoch, {}).get(trial.trial_id)
        if decision is None or (trial.trial_id, epoch) in self._said:
            return
        self._said.add((trial.trial_id, epoch))
        verdict = "goes on" if decision == "CONTINUE" else "stopped (pruned)"
        self.terminal.event(f"[vidnas] trial {trial.trial_id} at rung {epoch}: {verdict}; val_top1 "
                            f"{result.get('val_top1', float('nan')):.3f}, "
                            f"GMACs per clip {result.get('gmacs_clip', float('nan')):.4f}")


__all__ = ["ProgressCallback", "Terminal", "hv_reference", "summary"]
