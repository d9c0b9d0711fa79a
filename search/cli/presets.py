"""`vidnas presets | cost | spec`: the papers' architectures and what they cost."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from search.errors import UserError
from spaces import PRESETS, ArchSpec, get_preset


class UsageError(UserError):
    """Bad user input that is not a spec error (missing file, conflicting flags)."""


def add_presets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--names-only", action="store_true", help="print only the preset names")


def run_presets(args: argparse.Namespace) -> int:
    if args.names_only:
        print("\n".join(PRESETS))
        return 0
    from spaces.cost import cost
    header = (f"{'preset':<26} {'family':<9} {'input':>8} {'params':>12} {'GMACs':>8} "
              f"{'ref params':>12} {'ref GMACs':>9} {'d params':>8} {'d GMACs':>8}")
    print(header)
    print("-" * len(header))
    for name, preset in PRESETS.items():
        spec, c = preset.spec, cost(preset.spec)
        ref_p = f"{preset.params:,}" if preset.params else "-"
        ref_g = f"{preset.gmacs:.2f}" if preset.gmacs else "-"
        d_p = f"{100 * (c.params / preset.params - 1):+.2f}%" if preset.params else "-"
        d_g = f"{100 * (c.gmacs / preset.gmacs - 1):+.2f}%" if preset.gmacs else "-"
        print(f"{name:<26} {spec.family.value:<9} {f'{spec.frames}x{spec.crop}':>8} {c.params:>12,} "
              f"{c.gmacs:>8.2f} {ref_p:>12} {ref_g:>9} {d_p:>8} {d_g:>8}")
    print("\nparams = parameter count; GMACs = multiply-adds / 1e9 per clip (GFLOPs = 2 x GMACs), "
          "batch 1, 400 classes; ref = the papers' reference code (see spaces/families/)")
    return 0


def _add_spec_source(p: argparse.ArgumentParser, *, allow_file: bool) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", help="a preset name (see `vidnas presets --names-only`)")
    if allow_file:
        source.add_argument("--spec", type=Path, help="an ArchSpec JSON file")
    p.add_argument("--frames", type=int, help="input frames (overrides the spec)")
    p.add_argument("--crop", type=int, help="input crop size in pixels (overrides the spec)")
    p.add_argument("--classes", type=int, help="number of classes (overrides the spec)")


def _load_spec(args: argparse.Namespace) -> ArchSpec:
    if getattr(args, "spec", None) is not None:
        if not args.spec.is_file():
            raise UsageError(f"--spec {args.spec}: no such file")
        spec = ArchSpec.from_json(args.spec.read_text())
    else:
        spec = get_preset(args.preset)
    overrides = {k: v for k, v in (("frames", args.frames), ("crop", args.crop),
                                   ("num_classes", args.classes)) if v is not None}
    return spec.replace(**overrides) if overrides else spec


def add_cost(p: argparse.ArgumentParser) -> None:
    _add_spec_source(p, allow_file=True)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def run_cost(args: argparse.Namespace) -> int:
    from spaces.cost import cost

    spec = _load_spec(args)
    c = cost(spec)
    if args.json:
        print(json.dumps({"params": c.params, "gmacs": c.gmacs, "gflops": c.gflops, "frames": spec.frames,
                          "crop": spec.crop, "num_classes": spec.num_classes}))
    else:
        print(f"{spec.slug()}\n  params: {c.params:,}\n  GMACs (multiply-adds / 1e9): {c.gmacs:.3f}\n"
              f"  GFLOPs (2 x GMACs): {c.gflops:.3f}\n  input: {spec.frames} x {spec.crop} x {spec.crop}")
    return 0


def add_spec(p: argparse.ArgumentParser) -> None:
    _add_spec_source(p, allow_file=False)


def run_spec(args: argparse.Namespace) -> int:
    print(_load_spec(args).to_json(indent=2))
    return 0


