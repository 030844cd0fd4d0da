"""``tensorrnn prepare``: decode a dataset once into a clip store; list or free the stores.

    tensorrnn prepare ucf11 data/UCF11_updated_mpg --size 160 120 --workers 2
    tensorrnn prepare --list             # the stores in the cache folder, with their sizes
    tensorrnn prepare --clear            # delete them

Every clip is decoded once (progress bar) into the JPEG store (``--store raw``: uint8 frames),
bad clips are recorded and reported, and the summary gives clips, bad clips and bytes.
Interrupt it at any time: a rerun resumes where the last finished shard ended. The stores go
to ``$XDG_CACHE_HOME/tensorrnn`` (or ``~/.cache/tensorrnn``) unless ``--cache-dir`` names
another folder; ``tensorrnn fit`` with the same root, size, store and ``data.cache_dir``
(default: the same folder) then reads frames from the store instead of decoding video.
"""
from __future__ import annotations

import errno
import shutil
import warnings

from tensorrnn import papers
from tensorrnn.data.datasets.registry import DATASETS
from tensorrnn.data.store import DEFAULT_QUALITY, STORES, default_cache_dir, list_stores
from tensorrnn.errors import ArgumentParser, UsageError


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="tensorrnn prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", nargs="?", choices=sorted(DATASETS), help="dataset layout")
    parser.add_argument("root", nargs="?", help="dataset folder")
    parser.add_argument("--cache-dir", "--cache_dir", default=None,
                        help=f"folder of the stores (default: {default_cache_dir()}, from $XDG_CACHE_HOME)")
    parser.add_argument("--store", choices=STORES, default="jpeg",
                        help="jpeg: frames as JPEGs (default); raw: uint8 frames, exact, many times larger")
    parser.add_argument("--quality", type=int, default=DEFAULT_QUALITY,
                        help="JPEG quality of --store jpeg, 1..100 (default: %(default)s)")
    parser.add_argument("--size", nargs=2, type=int, metavar=("W", "H"), default=list(papers.UCF11_FRAME_SIZE),
                        help="frame width and height (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=0, help="decoding processes (default: 0, in-process)")
    parser.add_argument("--split", type=int, default=1, help="official split, for hmdb51/ucf101 (default: 1)")
    parser.add_argument("--subset", default="all",
                        help="which clips, for hmdb51/ucf101/hollywood2 (default: all)")
    parser.add_argument("--max-bad-fraction", "--max_bad_fraction", type=float, default=1.0,
                        help="fail if more clips than this share are bad (default: 1.0, only report)")
    parser.add_argument("--list", action="store_true", help="show the stores in the cache folder and their sizes")
    parser.add_argument("--clear", action="store_true", help="delete the stores in the cache folder")
    return parser


def _mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.1f} MiB"


def human_size(nbytes: int) -> str:
    """``nbytes`` in the largest binary unit that keeps it >= 1: '812 B', '3.4 KiB', '1.6 GiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:,.0f} {unit}" if unit == "B" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def list_main(cache_dir) -> int:
    stores = list_stores(cache_dir)
    if not stores:
        print(f"no stores in {cache_dir}")
        return 0
    for s in stores:
        size = "x".join(map(str, s.get("size", ["?"])))
        quality = f" q{s['quality']}" if "quality" in s else ""
        bad = f", {s['bad']} bad" if s["bad"] else ""
        print(f"{human_size(s['bytes']):>11}  {s['path'].name}  {s['format']}{quality} {size}, {s['clips']} clips{bad}, "
              f"root {s.get('root', '?')}")
    print(f"{human_size(sum(s['bytes'] for s in stores)):>11}  total, {len(stores)} stores in {cache_dir}")
    return 0


def clear_main(cache_dir) -> int:
    stores = list_stores(cache_dir)
    for s in stores:
        shutil.rmtree(s["path"])
        print(f"removed {s['path']} ({human_size(s['bytes'])})")
    print(f"freed {human_size(sum(s['bytes'] for s in stores))} ({len(stores)} stores) in {cache_dir}")
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    cache_dir = default_cache_dir() if args.cache_dir is None else args.cache_dir
    if args.list or args.clear:
        if args.dataset is not None:
            raise UsageError("tensorrnn prepare: --list and --clear take no dataset and root; "
                             "expected 'tensorrnn prepare --list [--cache-dir DIR]'")
        return clear_main(cache_dir) if args.clear else list_main(cache_dir)
    if args.dataset is None or args.root is None:
        raise UsageError("tensorrnn prepare: expected a dataset and its root, e.g. 'tensorrnn prepare ucf11 "
                         "UCF11_updated_mpg', or --list / --clear (see tensorrnn prepare --help)")
    if args.workers < 0:
        raise ValueError(f"--workers={args.workers}: expected 0 or more")
    options = dict(size=tuple(args.size), cache_dir=cache_dir, build_workers=args.workers,
                   max_bad_fraction=args.max_bad_fraction, store=args.store, quality=args.quality)
    if args.dataset in ("hmdb51", "ucf101"):
        options.update(split=args.split, subset=args.subset)
    elif args.dataset == "hollywood2":
        options.update(subset=args.subset)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            dataset = DATASETS[args.dataset](args.root, **options)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):  # a full disk: one line naming the store
                raise UsageError(err.strerror) from None
            raise
    cache = dataset._cache
    total = len(dataset) + len(dataset.bad_clips)
    nbytes = sum(p.stat().st_size for p in cache.dir.glob("shard-*"))
    print(f"{args.dataset}: {total} clips, {len(dataset)} cached, {len(dataset.bad_clips)} bad, "
          f"{sum(dataset.num_frames_per_clip):,} frames, {_mib(nbytes)} in {cache.dir}")
    for path, reason in dataset.bad_clips:
        print(f"  bad: {path}: {reason}")
    for warning in caught:
        if "skipped" not in str(warning.message):  # bad clips are listed above
            print(f"  warning: {warning.message}")
    return 0
