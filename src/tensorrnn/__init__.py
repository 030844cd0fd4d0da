"""tensorrnn: tensor-train, tensor-ring, block-term and hierarchical Tucker recurrent networks on PyTorch.

The public API of the modelling side is re-exported here; the data pipeline lives in
:mod:`tensorrnn.data` (needs the ``video`` extra) and the training application in
:mod:`tensorrnn.train` (needs the ``train`` extra), so that ``import tensorrnn`` costs only torch.
"""
from tensorrnn.compat import torchvision_beside_cpu_torch

torchvision_beside_cpu_torch()   # before anything imports torchvision (torchmetrics does)

from tensorrnn.nn import (  # noqa: E402
    BTGRU, BTLSTM, BTRNN, HTGRU, HTLSTM, HTRNN, TRGRU, TRLSTM, TRRNN, TTGRU, TTLSTM, TTMLP, TTRNN, BTLinear, DenseLinear,
    FactorizedLinear, HTLinear, SequenceClassifier, TensorizedGRU, TensorizedLSTM, TensorizedRNN, TRLinear,
    TTLinear, build_classifier, factorized_linear, summary,
)

__version__ = "0.1.0"

__all__ = [
    "BTGRU", "BTLSTM", "BTLinear", "BTRNN", "DenseLinear", "FactorizedLinear", "HTGRU", "HTLSTM", "HTLinear",
    "HTRNN", "SequenceClassifier",
    "TRGRU", "TRLSTM", "TRLinear", "TRRNN", "TTGRU", "TTLSTM", "TTLinear", "TTMLP", "TTRNN",
    "TensorizedGRU", "TensorizedLSTM", "TensorizedRNN", "build_classifier", "factorized_linear",
    "summary",
]
