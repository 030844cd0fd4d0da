"""``tensorrnn prepare``: decode a dataset once into the frame cache.

    tensorrnn prepare ucf11 data/UCF11_updated_mpg --cache-dir cache --size 160 120 --workers 2

Every clip is decoded once (progress bar), bad clips are recorded and reported, and the
summary gives clips, bad clips and bytes. Interrupt it at any time: a rerun resumes where the
last finished shard ended. Training with the same root, size and ``cache_dir`` then reads
frames from the cache instead of decoding video.
"""
from __future__ import annotations

import warnings

from tensorrnn import papers
from tensorrnn.data.datasets import DATASETS
from tensorrnn.errors import ArgumentParser


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="tensorrnn prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(DATASETS), help="dataset layout")
    parser.add_argument("root", help="dataset folder")
    parser.add_argument("--cache-dir", required=True, help="folder of the frame cache")
    parser.add_argument("--size", nargs=2, type=int, metavar=("W", "H"), default=list(papers.UCF11_FRAME_SIZE),
                        help="frame width and height (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=0, help="decoding processes (default: 0, in-process)")
    parser.add_argument("--split", type=int, default=1, help="official split, for hmdb51/ucf101 (default: 1)")
    parser.add_argument("--subset", default="all",
                        help="which clips, for hmdb51/ucf101/hollywood2 (default: all)")
    parser.add_argument("--max-bad-fraction", type=float, default=1.0,
                        help="fail if more clips than this share are bad (default: 1.0, only report)")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.workers < 0:
        raise ValueError(f"--workers={args.workers}: expected 0 or more")
    options = dict(size=tuple(args.size), cache_dir=args.cache_dir, build_workers=args.workers,
                   max_bad_fraction=args.max_bad_fraction)
    if args.dataset in ("hmdb51", "ucf101"):
        options.update(split=args.split, subset=args.subset)
    elif args.dataset == "hollywood2":
        options.update(subset=args.subset)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = DATASETS[args.dataset](args.root, **options)
    cache = dataset._cache
    total = len(dataset) + len(dataset.bad_clips)
    nbytes = sum(p.stat().st_size for p in cache.dir.glob("shard-*"))
    print(f"{args.dataset}: {total} clips, {len(dataset)} cached, {len(dataset.bad_clips)} bad, "
          f"{sum(dataset.num_frames_per_clip):,} frames, {nbytes / 2**20:,.1f} MiB in {cache.dir}")
    for path, reason in dataset.bad_clips:
        print(f"  bad: {path}: {reason}")
    for warning in caught:
        if "skipped" not in str(warning.message):  # bad clips are listed above
            print(f"  warning: {warning.message}")
    return 0
