"""Latency replicates that are independent: each round of a study's timing runs in a fresh Python
process (its own allocator, caches, thread pool and CPU frequency history), timing every arm in
turn. Rounds taken seconds apart in one process share all of those and are not replicates.

    python -m search.studies.latency SPECS.json OUT.json --batch 8 --repeats 3 [--threads N] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from spaces import ArchSpec, atomic


def measure_in_process(specs: dict[str, ArchSpec], *, batch: int, repeats: int, threads: int | None,
                       device: str, round_: int) -> list[dict[str, Any]]:
    """One round in a fresh process: a row per arm (arm, round, latency_ms, step_ms, process, ...)."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "specs.json", Path(tmp) / "rows.json"
        inp.write_text(json.dumps({name: spec.to_json() for name, spec in specs.items()}))
        cmd = [sys.executable, "-m", "search.studies.latency", str(inp), str(out), "--batch", str(batch),
               "--repeats", str(repeats), "--device", device] + (["--threads", str(threads)] if threads else [])
        subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parents[2])
        rows = json.loads(out.read_text())
    return [r | {"round": round_} for r in rows]


def main(argv: list[str] | None = None) -> None:
    import torch

    from spaces import build, measure_latency
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("specs", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name, text in json.loads(args.specs.read_text()).items():
        spec = ArchSpec.from_json(text)
        torch.manual_seed(0)
        model = build(spec)
        m = measure_latency(model, frames=spec.frames, crop=spec.crop, batch=args.batch, device=args.device,
                            channels_last=True, warmup=1, repeats=args.repeats)
        rows.append({"arm": name, "latency_ms": m.forward_ms, "step_ms": m.forward_backward_ms, "batch": args.batch,
                     "threads": torch.get_num_threads(), "device": args.device, "process": os.getpid()})
    atomic.write_text(args.out, json.dumps(rows))


if __name__ == "__main__":
    main()
