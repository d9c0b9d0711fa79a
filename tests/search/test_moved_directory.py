"""A search or study directory moved between an interrupt and `--resume`: the trials Tune creates
after the move write where the directory is now.

Tune 2.60 restores the trials it had at the new path, but its search algorithms unpickle the first
run's experiment spec with the old storage path; a trial created after the move then fails Ray's
storage check ("Unable to set up cluster storage") three times and ends as failed. This was seen in
CI as a flaky `SIGTERM-last-es-moved` interrupt case (failing when the signal came before the last
trial was created). Each test shows Tune's own restore keeping the old path (the defect, so the
test can fail) next to the search's, on real Tune objects and a real directory move."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ray import tune
from ray.train._internal.storage import StorageContext
from ray.tune.experiment import Experiment
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchGenerator, Searcher

from search.engine.glue import moved_search_alg


class _Counter(Searcher):
    """A searcher with state: suggests x = 0, 1, 2, ... and saves where it is."""

    def __init__(self) -> None:
        super().__init__(metric="loss", mode="min")
        self.next = 0

    def suggest(self, trial_id: str) -> dict:
        self.next += 1
        return {"x": self.next - 1}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(str(self.next))

    def restore(self, checkpoint_path: str) -> None:
        self.next = int(Path(checkpoint_path).read_text())


def _train(config: dict) -> None:
    pass


def _first_run(tmp_path: Path, alg, config: dict) -> Path:
    """Start an experiment under tmp_path/before, create one trial, save the algorithm's state as
    Tune does, then move the directory to tmp_path/after; return where the state was saved."""
    experiment = Experiment("tune", _train, config=config, num_samples=1 if config else 4,
                            storage_path=str(tmp_path / "before"))
    alg.add_configurations([experiment])
    first = alg.next_trial()
    assert first is not None and first.storage.storage_fs_path == str(tmp_path / "before")
    staging = tmp_path / "staging"
    staging.mkdir()
    alg.save_to_dir(str(staging), session_str="first")
    shutil.move(tmp_path / "before", tmp_path / "after")
    return staging


def _now(tmp_path: Path) -> StorageContext:
    return StorageContext(storage_path=str(tmp_path / "after"), experiment_dir_name="tune")


def test_a_searcher_creates_its_trials_after_the_move_where_the_directory_is(tmp_path: Path) -> None:
    staging = _first_run(tmp_path, SearchGenerator(ConcurrencyLimiter(_Counter(), max_concurrent=2)), {})

    tunes = SearchGenerator(ConcurrencyLimiter(_Counter(), max_concurrent=2))  # Tune's own restore
    tunes.restore_from_dir(str(staging))
    stale = tunes.next_trial()
    assert stale.storage.storage_fs_path == str(tmp_path / "before")
    with pytest.raises(RuntimeError, match="Unable to set up cluster storage"):
        stale.storage._check_validation_file()  # what the trial's worker runs before its first checkpoint

    ours = moved_search_alg(_Counter(), 2, _now(tmp_path))
    ours.restore_from_dir(str(staging))
    trial = ours.next_trial()
    assert trial.config == {"x": 1}  # the searcher's state came back: the second suggestion
    assert trial.storage.storage_fs_path == str(tmp_path / "after")
    assert Path(trial.storage.experiment_fs_path) == tmp_path / "after" / "tune"
    trial.storage._check_validation_file()  # passes: the marker is where the directory is now


def test_a_grid_creates_its_trials_after_the_move_where_the_directory_is(tmp_path: Path) -> None:
    grid = {"x": tune.grid_search([0, 1, 2])}
    staging = _first_run(tmp_path, BasicVariantGenerator(max_concurrent=3), grid)

    tunes = BasicVariantGenerator(max_concurrent=3)
    tunes.restore_from_dir(str(staging))
    assert tunes.next_trial().storage.storage_fs_path == str(tmp_path / "before")

    ours = moved_search_alg(None, 3, _now(tmp_path))
    ours.restore_from_dir(str(staging))
    second, third = ours.next_trial(), ours.next_trial()
    assert [second.config["x"], third.config["x"]] == [1, 2] and ours.next_trial() is None
    assert {second.storage.storage_fs_path, third.storage.storage_fs_path} == {str(tmp_path / "after")}
    second.storage._check_validation_file()
