"""Modules: factorised linear layers, tensorised recurrent networks, classifiers, summary."""
# --- factorised linear layers (nn/base.py, tt.py, tr.py, bt.py, ht.py, dense.py, factory.py) ---
from tensorrnn.nn.base import FactorizedLinear
from tensorrnn.nn.bt import BTLinear
from tensorrnn.nn.dense import DenseLinear
from tensorrnn.nn.factory import FACTORIZATIONS, factorized_linear
from tensorrnn.nn.ht import HTLinear
from tensorrnn.nn.tr import TRLinear
from tensorrnn.nn.tt import TTLinear
# --- end layers ---
# --- recurrent networks, classifiers, summary (nn/rnn.py, classifier.py, summary.py) ---
from tensorrnn.nn.classifier import TTMLP, SequenceClassifier, build_classifier
from tensorrnn.nn.rnn import (
    BTGRU, BTLSTM, BTRNN, HTGRU, HTLSTM, HTRNN, TRGRU, TRLSTM, TRRNN, TTGRU, TTLSTM, TTRNN,
    TensorizedGRU, TensorizedLSTM, TensorizedRNN, TensorizedRNNBase,
)
from tensorrnn.nn.context import SceneContext
from tensorrnn.nn.stem import ConvStem
from tensorrnn.nn.summary import ModelSummary, summary
# --- end rnn ---

__all__ = [
    "BTGRU", "BTLSTM", "BTLinear", "BTRNN", "ConvStem", "DenseLinear", "FACTORIZATIONS", "FactorizedLinear",
    "HTGRU", "HTLSTM", "HTLinear", "HTRNN",
    "ModelSummary", "SceneContext", "SequenceClassifier", "TRGRU", "TRLSTM", "TRLinear", "TRRNN", "TTGRU", "TTLSTM",
    "TTLinear", "TTMLP", "TTRNN", "TensorizedGRU", "TensorizedLSTM", "TensorizedRNN",
    "TensorizedRNNBase", "build_classifier", "factorized_linear", "summary",
]
