"""`sampler: stratified`: a search that spends what it knows before a trial trains.

An architecture's cost (GMACs per clip, what the search's cost objective counts) is known before it trains; only its accuracy is not. This
sampler takes turns over `strata` equal bins of log10 GMACs (a shuffled order each round), so the
cheap and the dear ends of the front are tried from the start, not in proportion to how much of
the space they hold; within a bin it draws architectures uniformly (each architecture alike, not
each branch of the space's tree: a backbone with fewer choices would otherwise be drawn far more
often, each Inception point of the benchmark 0.35% of the time against 1.6% for a VoV point), and
without replacement.

How: like Optuna's GridSampler, it fixes a trial's whole draw before the trial asks
(`before_trial`, kept in the trial's system attributes) and answers each parameter from it. The
draw: candidates from the space's tree, walked with a generator seeded by (seed, trial number),
each with its probability q under the tree. A candidate not tried yet is priced (`cost`: counting
GMACs is the slow part, about 0.2 s an architecture on a CPU, so at most `max_draws` a trial);
those in the turn's bin and within the budget are kept until there are `candidates` of them, and
one is picked with weight 1/q (sampling-importance-resampling: uniform over architectures as the
candidates grow). A turn whose bin yields none takes an untried candidate of another bin; a space
with nothing untried left (none in 50 x `max_draws` walks) repeats one, and from then on each draw
walks only `max_draws` times looking for an untried one. The bins' edges come from `pilot`
draws at the first trial and are kept in the study, so a resumed search uses the same. Same seed,
same history: the same draws. Trials enqueued as warm starts keep their parameters.

The space must be categorical (define-by-run `suggest_categorical`), as vidnas's spaces are.
"""
from __future__ import annotations

import dataclasses
import math
import random
from typing import Any, Callable

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from search.data.loader import eval_views
from spaces.bounds import SpaceBounds
from spaces.cost import cost
from spaces.sample import sample_arch
from spaces.spec import ArchSpec

PARAMS_ATTR, EDGES_ATTR, REPEAT_ATTR = "stratified:params", "stratified:edges", "stratified:repeat"
SKIPS_PER_DRAW = 50  # draws of tried architectures skipped per priced one (a nearly exhausted space)


class _Draw(optuna.trial.FixedTrial):
    """Walks one random branch of a define-by-run space, recording its parameters and the log of
    its probability under the tree (each categorical uniform over its choices)."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__({})
        self.rng, self.drawn, self.log_q = rng, {}, 0.0

    def suggest_categorical(self, name: str, choices: Any) -> Any:  # type: ignore[override]
        choices = list(choices)
        value = choices[self.rng.randrange(len(choices))]
        self.drawn[name] = value
        self.log_q -= math.log(len(choices))
        return value

    def _refuse(self, name: str, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"parameter {name!r}: the stratified sampler draws categorical spaces only "
                         "(suggest_categorical); use sampler tpe or random for this space")

    suggest_float = suggest_int = suggest_uniform = suggest_loguniform = suggest_discrete_uniform = _refuse  # type: ignore


class StratifiedSampler(optuna.samplers.BaseSampler):
    """Turns over cost strata, uniform over architectures within one, without replacement.

    `space(trial)` is the define-by-run space (its return value is what `cost` prices); `cost(value)`
    its GMACs, or None for one over the budget (never drawn)."""

    def __init__(self, space: Callable[[optuna.trial.BaseTrial], Any], cost: Callable[[Any], float | None], *,
                 seed: int = 0, strata: int = 8, candidates: int = 8, max_draws: int = 32, pilot: int = 64) -> None:
        if min(strata, candidates, max_draws, pilot) < 1:
            raise ValueError("strata, candidates, max_draws and pilot must be >= 1")
        self.space, self.cost = space, cost
        self.seed, self.strata, self.candidates, self.max_draws, self.pilot = seed, strata, candidates, max_draws, pilot
        self._costs: dict[tuple, float | None] = {}  # by parameters: counting GMACs is the slow part
        self._ended: dict[tuple[int, int], set[tuple]] = {}  # (study, trial number) -> its keys, once it ended
        self._random = optuna.samplers.RandomSampler(seed=seed)

    # -- Optuna's sampler interface ------------------------------------------------------------

    def reseed_rng(self) -> None:
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if "fixed_params" in trial.system_attrs or PARAMS_ATTR in trial.system_attrs:
            return  # a warm start keeps its parameters; a trial already drawn keeps its draw
        params, repeat = self.draw(study, trial.number)
        study._storage.set_trial_system_attr(trial._trial_id, PARAMS_ATTR, params)
        if repeat:
            study._storage.set_trial_system_attr(trial._trial_id, REPEAT_ATTR, True)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        params = trial.system_attrs.get(PARAMS_ATTR, {})
        if param_name in params:
            value = params[param_name]
            try:
                if param_distribution._contains(param_distribution.to_internal_repr(value)):
                    return value
            except ValueError:
                pass
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    # -- the draw ------------------------------------------------------------------------------

    def draw(self, study: optuna.Study, number: int) -> tuple[dict[str, Any], bool]:
        """Trial `number`'s parameters: a candidate of its turn's bin, picked with weight 1/q; and
        whether it repeats a tried one (nothing untried was found: the space is exhausted, and
        later draws look for untried ones only briefly)."""
        edges, bins = self._edges(study)
        tried, exhausted = set(), False
        for t in study.get_trials(deepcopy=False):  # with those drawn and not yet asked
            if t.number != number:
                keys = self._ended.get((study._study_id, t.number))
                if keys is None:
                    keys = {_key(t.params), _key(t.system_attrs.get(PARAMS_ATTR, t.params))}
                    if t.state.is_finished():  # its keys no longer change
                        self._ended[study._study_id, t.number] = keys
                tried |= keys
                exhausted |= t.number < number and bool(t.system_attrs.get(REPEAT_ATTR))
        rounds, turn = divmod(number, len(bins))
        target = bins[int(np.random.default_rng([self.seed, 1, rounds]).permutation(len(bins))[turn])]
        rng = random.Random(f"{self.seed}:{number}")  # (Python's: a walk makes many small draws)
        kept: list[tuple[dict[str, Any], float, Any]] = []  # untried, in the turn's bin
        spare: list[tuple[dict[str, Any], float, Any]] = []  # untried, another bin
        repeats: list[tuple[dict[str, Any], float, Any]] = []  # tried: only when nothing untried is found
        priced = 0
        for _ in range((1 if exhausted else SKIPS_PER_DRAW) * self.max_draws):  # a tried draw costs no count
            drawn, log_q, value = self._walk(rng)
            if _key(drawn) in tried:
                if len(repeats) < self.candidates:
                    repeats.append((drawn, log_q, value))
                continue
            priced += 1
            gmacs = self._gmacs(drawn, value)
            if gmacs is not None:
                (kept if _bin(math.log10(gmacs), edges, self.strata) == target else spare).append((drawn, log_q, value))
            if len(kept) >= self.candidates or priced >= self.max_draws:
                break
        pool = kept or spare or [r for r in repeats if self._gmacs(r[0], r[2]) is not None]
        repeat = not (kept or spare)
        if not pool:
            raise ValueError(f"the stratified sampler drew {self.max_draws} architectures and none was within "
                             "the budget (space.max_gmacs): raise max_gmacs or narrow the space")
        log_w = np.array([-log_q for _, log_q, _ in pool])
        w = np.exp(log_w - log_w.max())
        return pool[rng.choices(range(len(pool)), weights=w.tolist())[0]][0], repeat

    def _walk(self, rng: random.Random) -> tuple[dict[str, Any], float, Any]:
        trial = _Draw(rng)
        value = self.space(trial)
        return trial.drawn, trial.log_q, value

    def _gmacs(self, drawn: dict[str, Any], value: Any) -> float | None:
        key = _key(drawn)
        if key not in self._costs:
            gmacs = self.cost(value)
            self._costs[key] = gmacs if gmacs is not None and gmacs > 0 else None
        return self._costs[key]

    def _edges(self, study: optuna.Study) -> tuple[list[float], list[int]]:
        """log10 GMACs edges of the bins and the bins a pilot draw fell in (kept in the study)."""
        stored = study._storage.get_study_system_attrs(study._study_id).get(EDGES_ATTR)
        if stored is None:
            rng = random.Random(f"{self.seed}:pilot")
            walks = [self._walk(rng) for _ in range(self.pilot)]
            logs = [math.log10(g) for drawn, _, value in walks if (g := self._gmacs(drawn, value)) is not None]
            if not logs:
                raise ValueError(f"the stratified sampler drew {self.pilot} architectures and none was within "
                                 "the budget (space.max_gmacs): raise max_gmacs or narrow the space")
            low, high = min(logs), max(logs)
            edges = [low + (high - low) * i / self.strata for i in range(self.strata + 1)]
            bins = sorted({_bin(g, edges, self.strata) for g in logs})
            stored = {"edges": edges, "bins": bins}
            study._storage.set_study_system_attr(study._study_id, EDGES_ATTR, stored)
        return stored["edges"], stored["bins"]


def _bin(log_gmacs: float, edges: list[float], strata: int) -> int:
    width = (edges[-1] - edges[0]) / strata
    if width <= 0:
        return 0
    return min(strata - 1, max(0, int((log_gmacs - edges[0]) / width)))


def _key(params: dict[str, Any]) -> tuple:
    return tuple(sorted(params.items()))


class ArchDraw:
    """The unified space as the sampler walks it: the architecture, without the budget's
    constraint (the sampler prices it once, `ArchCost`)."""

    def __init__(self, bounds: SpaceBounds) -> None:
        self.bounds = dataclasses.replace(bounds, max_gmacs=None)

    def __call__(self, trial: optuna.trial.BaseTrial) -> ArchSpec:
        return sample_arch(trial, self.bounds)


class ArchCost:
    """An architecture's GMACs per clip (`spaces.cost` per view x the evaluation views its frames
    get from clips of `stored_frames`), or per view without them; None over `max_gmacs` (per view)."""

    def __init__(self, max_gmacs: float | None, stored_frames: int | None = None) -> None:
        self.max_gmacs, self.stored_frames = max_gmacs, stored_frames

    def __call__(self, spec: ArchSpec) -> float | None:
        gmacs = cost(spec).gmacs
        if self.max_gmacs is not None and gmacs > self.max_gmacs:
            return None
        return gmacs if self.stored_frames is None else gmacs * eval_views(self.stored_frames, spec.frames)
