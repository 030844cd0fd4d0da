"""The measured numbers of the README and docs/, written there by the benchmarks from their JSON.

A page holds a benchmark's table between two markers, and nothing else writes between them:

    <!-- bench:NAME -->
    (rendered from bench/results/*.json by the benchmark's own function)
    <!-- /bench:NAME -->

:data:`SOURCES` says, for each block, which function of which script renders it and from which
results JSON (a pure function of the JSON: no timing, no files but the JSON). Each benchmark's
``main()`` calls :func:`update` with the JSON it has just written; every block that reads that
JSON is rendered again and rewritten, atomically, on every page that holds it.
``tests/test_doc_blocks.py`` renders every marked block of every page from the JSON and asserts
that the page holds exactly that, so a number retyped by hand, or a JSON rerun without its
pages, fails the tests. ``python bench/blocks.py`` rewrites every block from the JSON as it is
(no measurement: after a renderer changed, or a page gained a block).

A rendered table keeps its headings one level below the page's section: a leading ``# title``
line is dropped (the page's heading names the benchmark) and every other heading gets one more
``#``.
"""
from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

#: block name -> (script in bench/, its rendering function, the results JSON it reads, in the
#: order of the function's arguments)
SOURCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "headline": ("headline", "block", ("accuracy.json", "rnn.json", "deploy.json")),
    "accuracy": ("bench_accuracy", "write_table", ("accuracy.json",)),
    # the variants and the stem's comparison were measured before freed memory was kept in the
    # heap (about half the epochs a budget holds now): against the default's runs of that time
    "accuracy-variants": ("bench_accuracy", "variants_table", ("accuracy_before_heap.json",)),
    "accuracy-frames": ("bench_accuracy", "frames_table", ("accuracy_nostem.json", "accuracy_6frames.json")),
    "accuracy-stem": ("bench_accuracy", "stem_table", ("accuracy_before_heap.json", "accuracy_nostem.json")),
    "accuracy-hue": ("bench_accuracy", "hue_table", ("accuracy.json",)),
    "accuracy-drift": ("bench_accuracy", "drift_table", ("accuracy.json",)),
    "accuracy-stem2": ("bench_accuracy", "stem2_table", ("accuracy.json",)),
    "accuracy-appearance": ("bench_accuracy", "appearance_table", ("accuracy.json",)),
    "accuracy-context": ("bench_accuracy", "context_table", ("accuracy.json",)),
    "accuracy-stabilize": ("bench_accuracy", "stabilize_table", ("accuracy.json",)),
    "distractor": ("bench_distractor", "markdown", ("distractor.json",)),
    "accuracy-selection": ("bench_accuracy", "selection_table", ("accuracy.json",)),
    "accuracy-store-raw": ("bench_accuracy", "write_table", ("accuracy_paired_jpeg_60epochs.json",)),
    "accuracy-store-jpeg": ("bench_accuracy", "write_table", ("accuracy_jpeg_paired_raw_60epochs.json",)),
    "layers": ("bench_layers", "markdown", ("layers.json",)),
    "rnn": ("bench_rnn", "markdown", ("rnn.json",)),
    "compute": ("bench_rnn", "compute_estimate", ("rnn.json",)),
    "data": ("bench_data", "markdown", ("data.json",)),
    "feed": ("bench_feed", "markdown", ("feed.json",)),
    "stream": ("bench_stream", "markdown", ("stream.json",)),
    "timeline": ("bench_timeline", "markdown", ("timeline.json",)),
    "cuts": ("bench_cuts", "markdown", ("cuts.json",)),
    "motion": ("bench_motion", "markdown", ("motion.json",)),
    "deploy": ("bench_deploy", "markdown", ("deploy.json",)),
    "features": ("bench_features", "markdown", ("features.json",)),
}

#: A block: its markers are lines of their own (a page may mention a marker in its text).
_BLOCK = re.compile(r"^<!-- bench:(?P<name>[\w-]+) -->\n(?P<body>.*?)^<!-- /bench:(?P=name) -->$",
                    re.DOTALL | re.MULTILINE)


def pages() -> list[Path]:
    """The pages that may hold blocks: the README and every page of docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def blocks_in(text: str) -> dict[str, str]:
    """The marked blocks of a page: name -> what stands between its markers."""
    return {m["name"]: m["body"] for m in _BLOCK.finditer(text)}


def _layout(markdown: str) -> str:
    """A rendered table as a block's body: a leading ``# title`` dropped, other headings one
    level down, a blank line after the opening marker and before the closing one (a table
    must not run into the marker)."""
    lines = markdown.strip("\n").split("\n")
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    lines = ["#" + line if line.startswith("#") else line for line in lines]
    return "\n" + "\n".join(lines).strip("\n") + "\n\n"


def render(name: str, results: Path = RESULTS) -> str:
    """Block ``name``'s body, rendered from its JSON by its benchmark's function."""
    script, function, sources = SOURCES[name]
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    renderer = getattr(importlib.import_module(script), function)
    return _layout(renderer(*(json.loads((results / source).read_text()) for source in sources)))


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with block ``name``'s body replaced (every occurrence); unchanged without it."""
    return _BLOCK.sub(lambda m: m.group(0) if m["name"] != name else
                      f"<!-- bench:{name} -->\n{body}<!-- /bench:{name} -->", text)


def update(written: str | Path) -> list[str]:
    """Rewrite every block that reads the results JSON ``written`` (just written by a benchmark)
    on every page that holds it; returns ``page: block`` for each block rewritten. Results
    written anywhere but ``bench/results`` (a benchmark's ``--out`` folder) change no page."""
    from tensorrnn.files import atomic_write_text

    written = Path(written).resolve()
    if written.parent != RESULTS:
        return []
    names = [name for name, (_, _, sources) in SOURCES.items()
             if written.name in sources and all((RESULTS / s).is_file() for s in sources)]
    changed = []
    for page in pages():
        text = page.read_text()
        new = text
        for name in names:
            if name in blocks_in(new):
                new = replace_block(new, name, render(name))
                changed.append(f"{page.relative_to(REPO)}: {name}")
        if new != text:
            atomic_write_text(page, new)
    if changed:
        print("rewrote the blocks " + ", ".join(changed), file=sys.stderr)
    return changed


def main() -> int:
    for source in sorted({s for _, _, sources in SOURCES.values() for s in sources}):
        if (RESULTS / source).is_file():
            update(RESULTS / source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
