"""`vidnas data synth | import | info`: the data subcommands, as (add_arguments, run) pairs."""
from __future__ import annotations

import argparse
import collections
from pathlib import Path

from search.data.importer import ImportConfig, import_dataset
from search.data.layouts import LAYOUTS
from search.data.store import ClipStore, StoreError
from search.data.synth import PROFILES, SIZES, store_profile, write_synth


def add_synth(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a name for the store (recorded in its metadata)")
    p.add_argument("--size", default="demo", help=f"one of {', '.join(SIZES)} (default: demo)")
    p.add_argument("--profile", default="appearance",
                   help=f"the class mix, one of {', '.join(PROFILES)} (default: appearance); "
                        "temporal: classes differ only in motion or order")
    p.add_argument("--out", type=Path, required=True, help="directory of the new store")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, help="processes (default: all cores, at most 8)")


def run_synth(args: argparse.Namespace) -> int:
    if args.size not in SIZES:
        raise StoreError(f"--size {args.size!r}: unknown; available: {', '.join(SIZES)}")
    if args.profile not in PROFILES:
        raise StoreError(f"--profile {args.profile!r}: unknown; available: {', '.join(PROFILES)}")
    meta = write_synth(args.out, size_name=args.size, seed=args.seed, name=args.name, workers=args.workers,
                       profile=args.profile)
    print(f"wrote {args.out}: {meta.splits} clips of {meta.frames}x{meta.height}x{meta.width}, "
          f"{len(meta.classes)} classes, profile {args.profile}")
    return 0


def add_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", type=Path, help="the dataset's directory")
    p.add_argument("--layout", required=True, help=f"one of {', '.join(LAYOUTS)}")
    p.add_argument("--out", type=Path, required=True, help="directory of the store (re-run to resume)")
    p.add_argument("--frames", type=int, default=16, help="frames per clip (default 16)")
    p.add_argument("--size", type=int, default=112, help="short side resize and center crop, pixels (default 112)")
    p.add_argument("--clips-per-video", type=int, default=1, help="clips sampled per video (default 1)")
    p.add_argument("--fold", type=int, default=1, help="official split for UCF101/HMDB51 (default 1)")
    p.add_argument("--splits-dir", type=Path, help="where the split/annotation files are (default: searched)")
    p.add_argument("--val-percent", type=int, default=20,
                   help="share of the training videos carved into val, whole source videos at a time (default 20)")
    p.add_argument("--test-percent", type=int, default=20, help="folder layout without split folders (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the val carve (default 0)")
    p.add_argument("--workers", type=int, help="decoding processes (default: all cores, at most 8)")
    p.add_argument("--chunk", type=int, default=32, help="videos per unit of work and of resumption")
    p.add_argument("--name", help="a name for the store (default: the source directory's)")


def run_import(args: argparse.Namespace) -> int:
    if args.layout not in LAYOUTS:
        raise StoreError(f"--layout {args.layout!r}: unknown; available: {', '.join(LAYOUTS)}")
    cfg = ImportConfig(layout=args.layout, source=args.source, out=args.out, frames=args.frames, size=args.size,
                       clips_per_video=args.clips_per_video, fold=args.fold, splits_dir=args.splits_dir,
                       val_percent=args.val_percent, test_percent=args.test_percent, seed=args.seed, workers=args.workers, chunk=args.chunk, name=args.name)
    report = import_dataset(cfg)
    print(f"imported {report.imported} of {report.videos} videos into {args.out}: {report.clips} clips"
          + (f" ({report.resumed_chunks} chunks done by an earlier run)" if report.resumed_chunks else ""))
    if report.failed:
        print(f"{len(report.failed)} videos left out (see {args.out / 'import_report.json'}):")
        for reason, count in collections.Counter(f["reason"] for f in report.failed).most_common(5):
            print(f"  {count:>6}  {reason}")
    return 0


def add_test(p: argparse.ArgumentParser) -> None:
    p.add_argument("store", type=Path, help="a local store directory made before stores held a test split")
    p.add_argument("--val-percent", type=int, default=20,
                   help="imported stores: share of train carved into the new val, by source video (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the val carve (default 0)")


def run_add_test(args: argparse.Namespace) -> int:
    from search.data.migrate import add_test_split
    meta = add_test_split(args.store, val_percent=args.val_percent, seed=args.seed)
    print(f"{args.store}: splits now {meta.splits}")
    return 0


def add_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("store", help="a store directory or URI")


def run_info(args: argparse.Namespace) -> int:
    store = ClipStore.open(args.store)
    meta = store.meta
    print(f"{meta.name}: clips of {meta.frames} frames x {meta.height} x {meta.width} x 3 (uint8), "
          f"{len(meta.classes)} classes, horizontal flip {'keeps' if meta.flip_safe else 'changes'} labels, "
          f"fps {meta.fps if meta.fps else '-'}, {store.size_on_disk() / 2**20:.1f} MiB on disk")
    print(f"made by: {meta.source}")
    if meta.source.get("generator") == "vidnas synth":
        profile = store_profile(meta)
        print(f"profile: {profile}: {PROFILES.get(profile, 'unknown to this version')}")
    splits = store.splits
    counts = {s: collections.Counter(store.labels(s).tolist()) for s in splits}
    print(f"\n{'class':<32} {'group':<12} " + " ".join(f"{s:>7}" for s in splits))
    for i, (name, group) in enumerate(zip(meta.classes, meta.groups)):
        print(f"{name:<32} {group:<12} " + " ".join(f"{counts[s][i]:>7}" for s in splits))
    print(f"{'total':<32} {'':<12} " + " ".join(f"{store.num_clips(s):>7}" for s in splits))
    for group in meta.group_names:
        members = [i for i, g in enumerate(meta.groups) if g == group]
        print(f"group {group}: {len(members)} classes, "
              + ", ".join(f"{s} {sum(counts[s][i] for i in members)}" for s in splits))
    if meta.pairs:
        print(f"time-reversal pairs: {len(meta.pairs)} ("
              + ", ".join(f"{meta.classes[a]}/{meta.classes[b]}" for a, b in meta.pairs) + ")")
    return 0
