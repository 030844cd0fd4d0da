"""summary(): rows, dense equivalents, compression and multiply-adds per frame."""
from __future__ import annotations

import json

from torch import nn

from tensorrnn import papers
from tensorrnn.nn import HTLSTM, TTGRU, SequenceClassifier, TensorizedLSTM, TTMLP, summary
from tensorrnn.tensor import ht_macs, ht_ranks


def test_tt_gru_classifier_rows_and_totals():
    model = SequenceClassifier(TTGRU(papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, 4), 11)
    s = summary(model)
    rows = {r.name: r for r in s.rows}
    assert list(rows) == ["rnn.input_projs.0", "rnn.weight_hh_l0", "head"]
    proj = rows["rnn.input_projs.0"]
    assert proj.kind == "TTLinear"
    assert proj.params == papers.TT_PARAM_TABLE[4]["tt_gru"] + 768             # cores + bias
    assert proj.dense_params == papers.UCF11_DENSE_PARAMS["gru"] + 768
    assert proj.macs == model.rnn.input_proj.macs
    assert rows["rnn.weight_hh_l0"].params == 768 * 256 + 768 and rows["rnn.weight_hh_l0"].macs == 768 * 256
    assert rows["head"].params == 256 * 11 + 11 and rows["head"].macs == 256 * 11
    assert s.params == sum(p.numel() for p in model.parameters())
    assert s.dense_params == 57_600 * 768 + 768 + 768 * 256 + 768 + 256 * 11 + 11
    assert s.compression == s.dense_params / s.params
    assert s.macs == proj.macs + 768 * 256 + 256 * 11


def test_ht_lstm_classifier_row_counts_the_hierarchical_tucker_map():
    model = SequenceClassifier(HTLSTM(papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, 7), 11)
    s = summary(model)
    proj = next(r for r in s.rows if r.name == "rnn.input_projs.0")
    gated = (16, 4, 4, 4)
    assert proj.kind == "HTLinear"
    assert proj.params == 3_255 + 1024                                          # frames, transfers + bias
    assert proj.dense_params == papers.UCF11_DENSE_PARAMS["lstm"] + 1024
    ranks = ht_ranks(7, papers.UCF11_IN_SHAPE, gated)
    assert proj.macs == ht_macs(papers.UCF11_IN_SHAPE, gated, ranks) and 0 < proj.macs < 57_600 * 1024 / 5
    assert s.params == sum(p.numel() for p in model.parameters())


def test_stacked_bidirectional_per_gate_rows_cover_every_parameter():
    model = TensorizedLSTM((3, 4), (2, 3), "tt", 2, num_layers=2, bidirectional=True, shared_gates=False)
    s = summary(model)
    assert s.params == sum(p.numel() for p in model.parameters())
    assert [r.name for r in s.rows if r.kind == "recurrent (dense)"] == [
        "weight_hh_l0", "weight_hh_l0_reverse", "weight_hh_l1", "weight_hh_l1_reverse"]
    assert sum(r.kind == "TTLinear" for r in s.rows) == 4 * 4                  # 4 maps x 4 gates
    upper = next(r for r in s.rows if r.name == "input_projs.2.0")
    assert upper.dense_params == 12 * 6 + 6                                    # 2 directions x 6 in


def test_other_modules_and_dict_and_text():
    model = nn.Sequential(nn.GRU(4, 5), nn.LayerNorm(5), TTMLP((3, 4), (2, 3), 2, rank=2))
    s = summary(model)
    kinds = {r.name: r.kind for r in s.rows}
    assert kinds == {"0": "GRU", "1": "LayerNorm", "2.proj": "TTLinear", "2.head": "Linear"}
    gru = s.rows[0]
    assert gru.params == 3 * 5 * (4 + 5 + 2) and gru.macs == 3 * 5 * (4 + 5)
    d = json.loads(json.dumps(s.to_dict()))
    assert d["total"]["params"] == sum(p.numel() for p in model.parameters()) == s.params
    assert d["rows"][2]["compression"] == s.rows[2].dense_params / s.rows[2].params
    text = str(s)
    assert "2.proj" in text and f"{s.params:,}" in text.splitlines()[-1]


def test_print_shows_rows_and_total(capsys):
    summary(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 7))).print()
    out = capsys.readouterr().out
    assert "Linear" in out and "total" in out and "29" in out      # 8 + 21 parameters
