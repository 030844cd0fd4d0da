"""User errors of the training commands: one line on stderr, exit code 2, no traceback.

The real entry point (``python -m tensorrnn ...``) runs in subprocesses, all started at once
(each pays the import of torch + Lightning), for one case of each kind (config, data,
checkpoint, predict); the other cases go through the same dispatcher in-process.
"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tensorrnn.cli import main
from tensorrnn.data.synthetic import make_demo_videos
from tensorrnn.train.checkpoint import AtomicCheckpointIO
from tensorrnn.train.module import VideoClassifier

REPO = Path(__file__).resolve().parents[1]
MODEL = {"arch": "gru", "factorization": "tt", "in_shape": [4, 6, 8, 12], "hidden_shape": [2, 2, 2, 2], "rank": 2}


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Every bad input, run concurrently; returns {name: CompletedProcess-like (rc, out, err)}."""
    tmp = tmp_path_factory.mktemp("cli_errors")
    root = make_demo_videos(tmp / "videos", num_classes=2, groups=2, clips_per_group=3, size=(32, 24),
                            num_frames=6, progress=False)
    good = {"model": MODEL, "data": {"dataset": "ucf11", "root": str(root), "size": [32, 24], "num_frames": 4,
                                     "dataset_options": {"progress": False}},
            "trainer": {"default_root_dir": str(tmp / "runs")}}

    def config(name, patch):
        cfg = yaml.safe_load(yaml.safe_dump(good))
        for dotted, value in patch.items():
            *parents, key = dotted.split(".")
            node = cfg
            for p in parents:
                node = node[p]
            node[key] = value
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return str(path)

    # a checkpoint of a TT-LSTM (the configs describe a TT-GRU), and a truncated one of the GRU
    other = VideoClassifier(**{**MODEL, "arch": "lstm"}, num_classes=2)
    AtomicCheckpointIO().save_checkpoint({"state_dict": other.state_dict(), "hyper_parameters": dict(other.hparams)},
                                         tmp / "lstm.ckpt")
    gru = VideoClassifier(**MODEL, num_classes=2)
    AtomicCheckpointIO().save_checkpoint({"state_dict": gru.state_dict(), "hyper_parameters": dict(gru.hparams),
                                          "datamodule_hyper_parameters": {"num_frames": 4, "size": [32, 24]}},
                                         tmp / "gru.ckpt")
    data = (tmp / "gru.ckpt").read_bytes()
    (tmp / "cut.ckpt").write_bytes(data[: len(data) // 2])
    ok = config("ok", {})
    (tmp / "garbage.ckpt").write_text("not a checkpoint at all\n" * 50)   # unpickling text fails oddly
    (tmp / "not_ucf11").mkdir()
    (tmp / "not_ucf11" / "notes.txt").write_text("hello")
    argvs = {
        "unknown_key": ["fit", "--config", config("unknown", {"model.hidden_size": 3})],
        "unknown_flag": ["fit", "--config", ok, "--trainer.max_epoks", "3"],
        "missing_root": ["fit", "--config", config("missing", {"data.root": str(tmp / "nowhere")})],
        "no_root": ["fit", "--config", config("noroot", {"data.root": None})],
        "shape_mismatch": ["fit", "--config", config("shape", {"model.in_shape": [4, 6, 8, 6]})],
        "stem_odd_size": ["fit", "--config", config("stem", {"model.stem": True, "model.in_shape": "auto",
                                                             "data.size": [32, 25]})],
        "stem_depth_size": ["fit", "--config", config("stem2", {"model.stem": True, "model.stem_depth": 2,
                                                                "model.in_shape": "auto", "data.size": [34, 24]})],
        "bad_split": ["fit", "--config", config("split", {"data.split": "tt_rnn", "data.num_folds": 50})],
        "bad_select": ["fit", "--config", ok, "--select", "middle"],
        "other_model": ["test", "--config", ok, "--ckpt_path", str(tmp / "lstm.ckpt")],
        "corrupt": ["test", "--config", ok, "--ckpt_path", str(tmp / "cut.ckpt")],
        "no_ckpt": ["test", "--config", ok],
        "predict_missing": ["predict", "--ckpt_path", str(tmp / "gru.ckpt"), str(tmp / "absent.avi")],
        "predict_corrupt_ckpt": ["predict", "--ckpt_path", str(tmp / "cut.ckpt"), str(tmp / "absent.avi")],
        "predict_no_args": ["predict"],
        "predict_garbage_ckpt": ["predict", "--ckpt_path", str(tmp / "garbage.ckpt"), str(tmp / "absent.avi")],
        # no dataset_options in the config (as in the shipped configs) and a root of another layout
        "wrong_layout": ["fit", "--config", config("layout", {"data.root": str(tmp / "not_ucf11"),
                                                             "data.dataset_options": None})],
    }
    in_subprocess = ("unknown_key", "missing_root", "bad_split", "other_model", "corrupt")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    procs = {name: subprocess.Popen([sys.executable, "-m", "tensorrnn", *argvs[name]], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=env, cwd=tmp)
             for name in in_subprocess}
    results = {}
    for name, argv in argvs.items():
        if name in procs:
            continue
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
        results[name] = (rc, out.getvalue(), err.getvalue())
    results.update({name: (p.wait(timeout=300), *p.communicate()) for name, p in procs.items()})
    return results


@pytest.mark.parametrize("name, expected", [
    ("unknown_key", "does not accept option 'hidden_size'"),
    ("unknown_flag", "trainer.max_epoks"),
    ("missing_root", "data.root="),
    ("no_root", "data.root=None"),
    ("shape_mismatch", "model.in_shape=[4, 6, 8, 6] has 1152 features per frame but the data gives 2304"),
    ("stem_odd_size", "model.stem=True with data.size=[32, 25]: the stem halves the frame; expected an even width"),
    ("stem_depth_size", "model.stem=True with data.size=[34, 24]: the stem halves the frame 2 times; expected a "
                        "width and height that are multiples of 4 (model.stem_depth=2)"),
    ("other_model", "checkpoint is from a different model"),
    ("corrupt", "truncated or corrupt"),
    ("bad_split", "num_folds=50"),
    ("bad_select", "select='middle': expected one of 'last', 'best'"),
    ("no_ckpt", "expected --ckpt_path"),
    ("predict_missing", "absent.avi"),
    ("predict_corrupt_ckpt", "truncated or corrupt"),
    ("predict_no_args", "required"),
    ("predict_garbage_ckpt", "not a readable checkpoint"),
    ("wrong_layout", "does not match the layout"),
])
def test_one_clear_line_and_nonzero_exit(cases, name, expected):
    rc, out, err = cases[name]
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in err + out


def test_verbose_shows_the_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-m", "tensorrnn", "--verbose", "predict", "--ckpt_path",
                             str(tmp_path / "none.ckpt"), "x.avi"], capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "Traceback" in result.stderr and "no such checkpoint" in result.stderr
