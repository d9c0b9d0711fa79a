"""The presets against the papers' own code, where that code is not on a package registry.

    python bench/reference_check.py --smallbig-code DIR   # DIR: a checkout of xhl-video/SmallBigNet
    python bench/reference_check.py --vov3d-code DIR --slowfast-code DIR2
        # DIR: youngwanLEE/VoV3D; DIR2: facebookresearch/SlowFast of its time (9bcc68f, Jan 2021);
        # with fvcore, yacs, simplejson and iopath installed. detectron2, which only its AVA heads
        # use, is replaced by an empty module when it is missing.

For VoV3D: VoV3D-M and -L (configs/Kinetics/vov3d/vov3d_{M,L}.yaml) at 16 x 224 x 224, logits
compared (its head's eval-time softmax set aside).

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


def vov3d(code: Path, slowfast: Path, size: str = "M", crop: int = 224, frames: int = 16) -> float:
    import types

    if "detectron2" not in sys.modules:
        try:
            import detectron2  # noqa: F401
        except ImportError:  # only ResNetRoIHead (AVA) imports it; not built for Kinetics
            layers = types.ModuleType("detectron2.layers")
            layers.ROIAlign = object
            sys.modules |= {"detectron2": types.ModuleType("detectron2"), "detectron2.layers": layers}
    sys.path[:0] = [str(code), str(slowfast)]
    from vov3d.config.defaults import get_cfg
    from vov3d.models import build_model

    cfg = get_cfg()
    cfg.merge_from_file(str(code / "configs" / "Kinetics" / "vov3d" / f"vov3d_{size}.yaml"))
    cfg.NUM_GPUS = 0
    torch.manual_seed(0)
    ref = realistic(build_model(cfg)).eval()
    ref.head.act = torch.nn.Identity()  # logits, not its eval-time softmax
    ours = build(get_preset(f"vov3d_{size.lower()}", frames=frames, crop=crop, num_classes=cfg.MODEL.NUM_CLASSES)).eval()
    load_weights(ours, ref.state_dict(), name=f"official VoV3D-{size}")
    x = torch.randn(2, 3, frames, crop, crop)
    with torch.no_grad():
        a, b = ref([x]), ours(x)
    return ((a - b).abs().max() / a.abs().max()).item()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smallbig-code", type=Path, help="a checkout of xhl-video/SmallBigNet")
    p.add_argument("--vov3d-code", type=Path, help="a checkout of youngwanLEE/VoV3D")
    p.add_argument("--slowfast-code", type=Path, help="a checkout of facebookresearch/SlowFast (9bcc68f)")
    args = p.parse_args()
    if args.smallbig_code:
        print(f"smallbig_r50 vs official smallbig50_no_extra (8 x 112 x 112, 2 clips): "
              f"max |difference| / max |output| = {smallbig(args.smallbig_code):.2e}")
    if args.vov3d_code:
        if not args.slowfast_code:
            p.error("--vov3d-code needs --slowfast-code (VoV3D imports PySlowFast)")
        for size in ("M", "L"):
            print(f"vov3d_{size.lower()} vs official VoV3D-{size} (16 x 224 x 224, 2 clips, logits): "
                  f"max |difference| / max |output| = {vov3d(args.vov3d_code, args.slowfast_code, size):.2e}")


if __name__ == "__main__":
    main()
