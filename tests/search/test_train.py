from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from search.data.loader import ClipDataset, make_loader
from search.data.synth import write_synth
from search.record.report import write_report
from search.record.results import mark_pareto
from search.trial.loop import (DivergedError, OptimConfig, evaluate, freeze_norms, make_optimizer, make_scheduler,
                               param_groups, train_epoch)
from spaces import build, get_preset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny") / "store"
    write_synth(root, size_name="tiny", seed=1, workers=1, progress=False)
    return root


def _model() -> nn.Module:
    return build(get_preset("tsn_r50", frames=16, crop=32, num_classes=6).scaled(width=0.125, depth=0.34))


def test_training_lowers_the_loss_and_evaluation_reports_groups(tiny: Path) -> None:
    torch.manual_seed(0)
    model = _model()
    loader = make_loader(ClipDataset(tiny, "train", train=True), batch_size=16)
    cfg = OptimConfig(lr=0.003, batch_size=16)
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, warmup_steps=2, total_steps=6 * len(loader))
    losses = []
    for epoch in range(6):
        loader.sampler.set_epoch(epoch)
        losses.append(train_epoch(model, loader, optimizer, scheduler, device=torch.device("cpu"))["train_loss"])
    assert losses[-1] < losses[0]
    metrics = evaluate(model, make_loader(ClipDataset(tiny, "val"), batch_size=16), device=torch.device("cpu"),
                       group_names=("appearance", "motion", "order"), pairs=((2, 3), (4, 5)))
    assert set(metrics) >= {"loss", "top1", "top5", "acc_appearance", "acc_motion", "acc_order", "within_pair", "views"}
    assert metrics["views"] == 1  # all 16 stored frames: one view
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 1


def test_no_weight_decay_on_norms_and_biases() -> None:
    decay, no_decay = param_groups(_model(), 0.05)
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim <= 1 for p in no_decay["params"])
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.05


def test_fine_tuning_trains_the_backbone_slower_and_can_freeze_its_norms(tiny: Path) -> None:
    """`init.backbone_lr` and `init.freeze_bn`: the classifier at the full lr, the rest at the
    fraction; frozen BatchNorms keep their loaded scale, shift and statistics through training."""
    torch.manual_seed(0)
    model = _model()
    head = {id(p) for p in model.head.parameters()}
    optimizer = make_optimizer(model, OptimConfig(lr=0.004, batch_size=16), backbone_lr=0.1)
    lrs = sorted((g["lr"], all(id(p) in head for p in g["params"])) for g in optimizer.param_groups)
    assert lrs == [(0.0002, False), (0.0002, False), (0.002, True), (0.002, True)]  # 0.004 * 16/32, x0.1 below the head
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    assert freeze_norms(model) == len(norms) > 10
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = make_optimizer(model, OptimConfig(lr=0.004, batch_size=16), backbone_lr=0.1)
    trained = sum(len(g["params"]) for g in optimizer.param_groups)
    assert trained == len(list(model.parameters())) - 2 * len(norms)  # scale and shift of each norm left out
    loader = make_loader(ClipDataset(tiny, "train", train=True), batch_size=16)
    train_epoch(model, loader, optimizer, None, device=torch.device("cpu"))
    after = model.state_dict()
    for name, value in before.items():
        frozen = any(name.startswith(n + ".") for n, m in model.named_modules() if isinstance(m, nn.BatchNorm3d))
        if value.is_floating_point():
            assert torch.equal(after[name], value) == frozen, name  # norms unchanged, every conv and the head moved


def test_a_diverging_loss_stops_training_with_the_reason(tiny: Path) -> None:
    class Exploding(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.flatten(1)[:, :6] * self.w * float("inf")

    model = Exploding()
    loader = make_loader(ClipDataset(tiny, "train", train=True), batch_size=16)
    steps = len(loader)
    assert steps > 2
    with pytest.raises(DivergedError, match=rf"diverged: the loss became nan in training steps 1-{steps} of the epoch"):
        train_epoch(model, loader, torch.optim.SGD(model.parameters(), lr=0.1), None, device=torch.device("cpu"))
    with pytest.raises(DivergedError, match=r"the loss became nan in training steps 1-2 of the epoch \(32 clips\)"):
        train_epoch(model, loader, torch.optim.SGD(model.parameters(), lr=0.1), None, device=torch.device("cpu"),
                    check_every=2)  # read every 2 steps: caught at the first read


def test_report_writes_the_plots(tmp_path: Path) -> None:
    spec = get_preset("s3d", frames=16, crop=32, num_classes=6).to_json()
    rows = [{"trial_id": f"t{i}", "state": s, "val_top1": a, "gmacs": g, "preset": p, "arch_family": f,
             "arch_s1_temporal_op": op, "spec": spec}
            for i, (s, a, g, p, f, op) in enumerate([("complete", 0.5, 0.01, "s3d", "inception", "separable"),
                                                     ("complete", 0.3, 0.002, "", "resnet", "2d"),
                                                     ("complete", 0.2, 0.02, "", "vov", "3d"),
                                                     ("pruned", 0.1, 0.005, "", "vov", "2d")])]
    rows = mark_pareto(rows, {"val_top1": "max", "gmacs": "min"})
    assert [r["pareto"] for r in rows] == [True, True, False, False]
    paths = write_report(tmp_path, rows, {"val_top1": "max", "gmacs": "min"}, None)
    assert [p.name for p in paths] == ["front.png", "choices.png", "curves.png", "index.html"]
    assert all(p.stat().st_size > 5000 for p in paths[:2])  # the page: tests/search/test_page.py
