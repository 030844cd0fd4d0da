"""``tensorrnn prepare``: summary, bad clips, resume after an interruption, errors as one line."""
from __future__ import annotations

import pytest

import tensorrnn.data.cache as cache_module
from tensorrnn.cli import main as cli_main
from tensorrnn.data import JpegStore
from tensorrnn.data.prepare import main


def test_prepare_reports_clips_bad_clips_and_bytes(ucf11_bad_root, tmp_path, capsys):
    assert main(["ucf11", str(ucf11_bad_root), "--cache-dir", str(tmp_path), "--size", "16", "12", "--store", "raw"]) == 0
    out = capsys.readouterr().out
    assert "ucf11: 20 clips, 18 cached, 2 bad, 144 frames" in out  # 18 clips x 8 frames
    assert "bad: " in out and "v_walk_dog_04_01.avi: empty file" in out
    (store,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert store.name.startswith("ucf11-16x12-")
    mib = sum(p.stat().st_size for p in store.glob("shard-*")) / 2**20
    assert f"{mib:,.1f} MiB" in out
    assert sum(p.stat().st_size for p in store.glob("shard-*.u8")) == 144 * 12 * 16 * 3


def test_prepare_resumes_after_interruption(ucf11_root, tmp_path, monkeypatch, capsys):
    real, decoded = cache_module._decode_job, []

    def decode(job):
        if stop_after is not None and len(decoded) >= stop_after:
            raise KeyboardInterrupt
        decoded.append(job[0])
        return real(job)

    monkeypatch.setattr(cache_module, "_decode_job", decode)
    monkeypatch.setattr(cache_module, "DEFAULT_SHARD_CLIPS", 4)
    args = ["ucf11", str(ucf11_root), "--cache-dir", str(tmp_path), "--size", "16", "12"]
    stop_after = 9
    with pytest.raises(KeyboardInterrupt):
        main(args)
    store = JpegStore(tmp_path, ucf11_root, (16, 12), name="ucf11")  # the default store
    assert len(store.entries) == 8  # two finished shards of 4 clips; the ninth clip's shard is dropped
    decoded.clear()
    stop_after = None
    assert main(args) == 0
    assert len(decoded) == 10 and "18 cached, 0 bad" in capsys.readouterr().out


def test_prepare_with_workers(ucf11_root, tmp_path, capsys):
    assert main(["ucf11", str(ucf11_root), "--cache-dir", str(tmp_path), "--size", "16", "12", "--workers", "2"]) == 0
    assert "18 cached" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    code = cli_main(["prepare", "ucf11", str(tmp_path / "missing"), "--cache-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "does not exist; expected <class>/v_<prefix>" in err
