"""tensorrnn.heap: freed blocks of a batch's size stay in the heap, so reusing them does not
page-fault; TENSORRNN_KEEP_HEAP=0 and bad limits. Each case runs in a fresh interpreter: the
setting is the process's."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from tensorrnn import cli
from tensorrnn.heap import ENV, keep_freed_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# 10 rounds of three 48 MB tensors made and freed (as a step makes and frees its activations);
# the minor page faults of each round
ROUNDS = """
import json, resource, sys
from tensorrnn.heap import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "call" else None
import torch
x = torch.randn(12_000_000)
faults = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    y = x - 0.5; z = y * 2; del y; w = z.exp(); del z, w
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"kept": kept, "faults": faults}))
"""


def _rounds(call: bool, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", ROUNDS, "call" if call else "no"], capture_output=True, text=True,
                         check=True, env={**os.environ, **(env or {})})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's; elsewhere keep_freed_memory does nothing")
def test_freed_blocks_are_reused_without_page_faults_once_kept():
    kept, plain = _rounds(True), _rounds(False)
    assert kept["kept"] is True
    # without the setting every round maps its blocks afresh (a 48 MB block: 11,719 pages of
    # 4 kB, or 23 huge pages where transparent huge pages are always on)
    assert min(plain["faults"]) > 0, plain
    assert kept["faults"][-3:] == [0, 0, 0], kept          # steady state: every block from the heap


def test_the_environment_variable_turns_it_off():
    off = _rounds(True, {ENV: "0"})
    assert off["kept"] is False


@pytest.mark.parametrize("limit", [0, -5, 1.5, True, "1G"])
def test_a_bad_limit_is_named(limit):
    with pytest.raises(ValueError, match=r"limit=.*expected a positive number of bytes"):
        keep_freed_memory(limit)


def test_the_command_line_keeps_freed_memory_before_any_command(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(True))
    assert cli.main(["params"]) == 0
    assert "TT-GRU" in capsys.readouterr().out
    assert calls == [True]
    assert cli.main(["no-such-command"]) == 2 and calls == [True]  # nothing to run, nothing set
