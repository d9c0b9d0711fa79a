"""The presets against the papers' own code, where that code is not on a package registry.

    python bench/reference_check.py --smallbig-code DIR   # DIR: a checkout of xhl-video/SmallBigNet

builds the official `smallbig50_no_extra` (8 frames) with random weights and BatchNorm statistics far
from the identity, loads its state dict into `smallbig_r50` with `spaces.load_weights`, and prints
the largest difference of the two outputs relative to the largest output on random clips. The
official code is imported from DIR, never copied here; the test suite checks the layout it
writes (tests/spaces/test_layouts.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "spaces"))

from reference import fakes_off, realistic  # noqa: E402
from spaces import build, get_preset, load_weights  # noqa: E402


def smallbig(code: Path, crop: int = 112, frames: int = 8) -> float:
    with fakes_off():  # its module imports torchvision, whose PyPI build is CUDA's (STACK-NOTES)
        import torchvision  # noqa: F401
    sys.path.insert(0, str(code))
    from models.SmallBig import smallbig50_no_extra

    args = argparse.Namespace(test=False, imagenet=False, num_classes=10, feat=False, t_length=frames)
    torch.manual_seed(0)
    ref = realistic(smallbig50_no_extra(args)).eval()
    ours = build(get_preset("smallbig_r50", frames=frames, crop=crop, num_classes=10)).eval()
    load_weights(ours, ref.state_dict(), name="official smallbig50_no_extra")
    x = torch.randn(2, 3, frames, crop, crop)
    with torch.no_grad():
        a, b = ref(x), ours(x)
    return ((a - b).abs().max() / a.abs().max()).item()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smallbig-code", type=Path, required=True, help="a checkout of xhl-video/SmallBigNet")
    args = p.parse_args()
    print(f"smallbig_r50 vs official smallbig50_no_extra (8 x 112 x 112, 2 clips): "
          f"max |difference| / max |output| = {smallbig(args.smallbig_code):.2e}")


if __name__ == "__main__":
    main()
