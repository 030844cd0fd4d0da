"""The README and docs/: every measured number is written there by the benchmark that measured it,
every command output shown is the command's, and every link leads somewhere.

A benchmark's table stands on a page between ``<!-- bench:NAME -->`` markers; ``bench/blocks.py``
says which renderer of which ``bench/*.py`` makes it from which ``bench/results/*.json``. The
renderers are pure functions of the JSON, so this costs no measurement.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("blocks", REPO / "bench" / "blocks.py")
blocks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(blocks)

PAGES = blocks.pages()
FOUND = [(page, name) for page in PAGES for name in blocks.blocks_in(page.read_text())]


def _label(item) -> str:
    page, name = item
    return f"{page.relative_to(REPO)}:{name}"


@pytest.mark.parametrize("page, name", FOUND, ids=list(map(_label, FOUND)))
def test_a_block_is_its_benchmarks_rendering_of_the_json(page, name):
    assert name in blocks.SOURCES, f"{page.name}: block {name!r} has no source in bench/blocks.py"
    assert blocks.blocks_in(page.read_text())[name] == blocks.render(name), (
        f"{page.relative_to(REPO)}: block {name!r} differs from bench/results; `python bench/blocks.py` "
        "rewrites it from the JSON")


def test_every_benchmark_block_stands_on_a_page_and_every_marker_pairs_up():
    assert set(blocks.SOURCES) <= {name for _, name in FOUND}
    for page in PAGES:
        text = page.read_text()
        markers = re.findall(r"^<!-- /?bench:.*$", text, re.MULTILINE)
        assert len(markers) == 2 * len(blocks.blocks_in(text)), f"{page.name}: a marker without its pair"


def test_a_block_is_rewritten_alone():
    text = "intro\n<!-- bench:a -->\nold\n<!-- /bench:a -->\nmiddle\n<!-- bench:b -->\nkept\n<!-- /bench:b -->\n"
    new = blocks.replace_block(text, "a", "\nnew\n\n")
    assert new == text.replace("old\n", "\nnew\n\n")
    assert blocks.blocks_in(new) == {"a": "\nnew\n\n", "b": "kept\n"}
    assert blocks.replace_block(text, "c", "x") == text


def test_results_written_elsewhere_change_no_page(tmp_path):
    (tmp_path / "rnn.json").write_text("{}")
    assert blocks.update(tmp_path / "rnn.json") == []


def test_a_rendered_table_sits_below_the_pages_section():
    body = blocks._layout("# Title\n\nintro\n\n## Part\n\n| a |\n|---|\n| 1 |\n")
    assert body == "\nintro\n\n### Part\n\n| a |\n|---|\n| 1 |\n\n"


@pytest.mark.parametrize("construction", ["tr", "tt", "matrix"])
def test_the_recovery_tables_are_the_experiments_output(construction):
    text = (REPO / "docs" / "reproduction.md").read_text()
    block = re.search(rf"<!-- recover:{construction} -->\n(.*?)<!-- /recover:{construction} -->", text, re.DOTALL)
    assert block is not None
    written = (REPO / "docs" / "figures" / f"recover_{construction}" / "recover.md").read_text()
    assert block[1] == written


def test_the_parameter_table_is_the_commands_output(capsys):
    from tensorrnn.experiments import params

    assert params.main([]) == 0
    assert capsys.readouterr().out in (REPO / "docs" / "reproduction.md").read_text()


def test_the_demos_parameter_counts():
    """docs/cli.md states the demo's models' sizes (6 classes; bench_deploy's demo rows have 11)."""
    from tensorrnn.train.demo import FULL
    from tensorrnn.train.module import VideoClassifier

    text = (REPO / "docs" / "cli.md").read_text()
    for factorization, rank in (("tt", FULL.rank), ("dense", None)):
        model = VideoClassifier("gru", factorization, list(FULL.in_shape), list(FULL.hidden_shape), rank=rank,
                                num_classes=FULL.num_classes)
        total = sum(p.numel() for p in model.parameters())
        input_map = sum(p.numel() for p in model.net.rnn.input_proj.parameters())
        assert f"{total:,}" in text and f"{input_map:,}" in text, (factorization, total, input_map)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return {_slug(m[1]) for m in re.finditer(r"^#+ (.*)$", text, re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_leads_to_a_file_and_heading_that_exist(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: link to {target}: no such file"
        if anchor:
            assert anchor in _anchors(linked), f"{page.name}: link to {target}: no such heading"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_cite_no_issue_and_no_file_outside_the_repository(page):
    text = page.read_text()
    assert not re.search(r"\bissues? #?\d+|(?<![\w(/])#\d+\b|PAPERS\.md|\.\./shared", text, re.IGNORECASE), page.name


def _cli_sections() -> dict[str, str]:
    """docs/cli.md's sections: heading -> text."""
    text = (REPO / "docs" / "cli.md").read_text()
    parts = re.split(r"^## (.*)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def test_the_command_reference_names_every_option():
    """docs/cli.md documents every option of every command, under the command's headings, in the
    spelling the docs use (the first); and every model and data key of the config commands."""
    import argparse
    import inspect

    from tensorrnn.data import features, prepare
    from tensorrnn.deploy import export, predict
    from tensorrnn.experiments import advise, params
    from tensorrnn.experiments import cli as experiment_cli
    from tensorrnn.train import demo
    from tensorrnn.train.datamodule import VideoDataModule
    from tensorrnn.train.module import VideoClassifier

    experiment = experiment_cli.build_parser()
    recover = next(a for a in experiment._actions if isinstance(a, argparse._SubParsersAction)).choices["recover"]
    parsers = {"predict": predict._parser(), "export": export._parser(), "demo": demo._parser(),
               "prepare": prepare._parser(), "features": features._parser(), "params": params._parser(),
               "advise": advise._parser(),
               "experiment recover": recover}
    sections = _cli_sections()
    for command, parser in parsers.items():
        text = "".join(body for heading, body in sections.items() if heading.startswith(command))
        assert text, f"docs/cli.md has no section '## {command}'"
        for action in parser._actions:
            if action.option_strings and action.option_strings[0] not in ("-h", "--help"):
                assert f"`{action.option_strings[0]}" in text, f"docs/cli.md, {command}: {action.option_strings[0]}"
    fit = sections["fit"]
    for prefix, cls in (("model", VideoClassifier), ("data", VideoDataModule)):
        for name in inspect.signature(cls).parameters:
            assert f"`{prefix}.{name}`" in fit, f"docs/cli.md, fit: {prefix}.{name}"
