"""Run every ``bench/bench_*.py`` in turn (``make bench``); ``--quick`` is passed through.

Each benchmark is a standalone script that writes ``bench/results/<name>.json`` and
``<name>.md``; this runner only starts them, one at a time (they time the same CPU), and
reports which failed. ``accuracy`` (hours of training on 2 cores), ``distractor`` (four fits,
half an hour) and ``stream`` (needs LitData) run only when named, or with ``--quick``; ``gpu`` (a CUDA device: ``bench/gpu.sh``) only when named.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Benchmarks that run only when named (or with --quick): hours on the project's 2-core
#: machines, or an evaluation against a package that is not a dependency (LitData).
LONG = ("bench_accuracy", "bench_distractor", "bench_stream")
#: Benchmarks that run only when named: they need a CUDA device (``bench/gpu.sh`` runs this one).
GPU = ("bench_gpu",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of every benchmark")
    parser.add_argument("names", nargs="*", help="only these benchmarks (e.g. layers rnn)")
    args = parser.parse_args(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.names:
        unknown = set(args.names) - {s.stem.removeprefix("bench_") for s in scripts}
        if unknown:
            raise SystemExit(f"error: names={sorted(unknown)}: expected some of "
                             f"{[s.stem.removeprefix('bench_') for s in scripts]}")
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.names]
    else:
        scripts = [s for s in scripts if s.stem not in GPU and (args.quick or s.stem not in LONG)]
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *(["--quick"] if args.quick else [])])
        print(f"== {script.name}: exit {code} in {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
