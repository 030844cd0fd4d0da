"""Defects found by a user's review of the layers and recurrent networks (float64 equalities)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from tensorrnn.nn import FACTORIZATIONS
from tensorrnn.tensor import bt_decompose, tr_als, tr_decompose, tr_svd, tr_to_dense

DT = torch.float64


# --- decompositions: ALS on rank-deficient normal equations -----------------------------------

def test_tr_als_keeps_an_exact_start_exact():
    """Full ranks: TR-SVD is exact, and an ALS sweep (exact least squares) cannot lose that."""
    torch.manual_seed(0)
    w = torch.randn(6, 6, dtype=DT)
    cores = tr_svd(w, (2, 3), (3, 2), [6, 6, 6, 6])
    assert float((tr_to_dense(cores, 2) - w).norm()) < 1e-12
    _, error = tr_als(w, cores, 2, iters=3)
    assert error < 1e-10


def test_tr_als_error_never_increases():
    torch.manual_seed(0)
    w = torch.randn(6, 6, dtype=DT)
    cores = tr_svd(w, (2, 3), (3, 2), [2, 2, 2, 2])
    error = float((tr_to_dense(cores, 2) - w).norm() / w.norm())
    for _ in range(4):
        cores, new_error = tr_als(w, cores, 2, iters=1, tol=-1.0)
        assert new_error <= error + 1e-12
        error = new_error


@pytest.mark.parametrize("rank", [4, 6])
def test_bt_second_block_never_makes_the_fit_worse(rank):
    """Block 2 starts from the HOSVD of block 1's residual and ALS never increases the error."""
    torch.manual_seed(0)
    w = torch.randn(6, 6, dtype=DT)
    _, _, one = bt_decompose(w, (2, 3), (3, 2), rank, blocks=1)
    _, _, two = bt_decompose(w, (2, 3), (3, 2), rank, blocks=2)
    assert two <= one + 1e-12


def test_tr_decompose_full_rank_is_exact():
    torch.manual_seed(0)
    w = torch.randn(6, 6, dtype=DT)
    _, error = tr_decompose(w, (2, 3), (3, 2), 6)
    assert error < 1e-10


# --- from_linear on a low-precision layer -------------------------------------------------------

@pytest.mark.parametrize("fact", ["tt", "tr", "bt", "ht"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_from_linear_converts_a_low_precision_layer(fact, dtype):
    """torch's SVD / eigh have no half kernels on CPU: decompose in float32, keep the layer's dtype."""
    torch.manual_seed(0)
    linear = nn.Linear(6, 6, dtype=dtype)
    layer = FACTORIZATIONS[fact].from_linear(linear, (2, 3), (3, 2), 6)   # full ranks: exact
    assert all(p.dtype == dtype for p in layer.parameters())
    assert layer.decomposition_error < 1e-2          # rounding to the layer's dtype only
    x = torch.randn(4, 6, dtype=dtype)
    torch.testing.assert_close(layer(x).float(), linear(x).float(), rtol=0.05, atol=0.05)


# --- integer input (raw uint8 frames) --------------------------------------------------------

def test_integer_input_is_named_by_the_layers_and_the_rnns():
    """Raw uint8 frames get a one-line ValueError, not addmm's 'expected m1 and m2 ...'."""
    from tensorrnn.nn import TTGRU, TTLinear, build_classifier

    frames = torch.zeros(2, 3, 6, dtype=torch.uint8)
    for module in (TTLinear((2, 3), (3, 2), 2), TTGRU((2, 3), (2, 2), 2),
                   build_classifier("lstm", (2, 3), (2, 2), 4, rank=2),
                   build_classifier("mlp", (2, 3), (2, 2), 4, rank=2)):
        with pytest.raises(ValueError, match=r"input of dtype torch\.uint8: expected a floating-point"):
            module(frames)


def test_sequence_classifier_names_a_module_that_is_not_recurrent():
    from tensorrnn.nn import SequenceClassifier

    with pytest.raises(ValueError, match=r"rnn=Linear: expected a recurrent network"):
        SequenceClassifier(nn.Linear(6, 4), 3)


def test_sequence_classifier_takes_a_wrapped_torch_rnn():
    """Duck typing: a module with torch's RNN attributes and outputs (a wrapper, a custom cell)
    is accepted and classifies exactly like the torch RNN it wraps."""
    from tensorrnn.nn import SequenceClassifier

    class Wrapped(nn.Module):
        def __init__(self, rnn):
            super().__init__()
            self.inner = rnn
            self.input_size, self.hidden_size = rnn.input_size, rnn.hidden_size
            self.batch_first, self.bidirectional = rnn.batch_first, rnn.bidirectional

        def forward(self, x):
            return self.inner(x)

    torch.manual_seed(0)
    gru = nn.GRU(6, 5, batch_first=True, dtype=torch.float64)
    plain = SequenceClassifier(gru, 3).double()
    wrapped = SequenceClassifier(Wrapped(gru), 3).double()
    wrapped.head.load_state_dict(plain.head.state_dict())
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(wrapped(x), plain(x), rtol=0, atol=0)


# --- from_linear: what it is given ----------------------------------------------------------------

@pytest.mark.parametrize("fact", ["tt", "tr", "bt", "ht", "dense"])
def test_from_linear_names_an_argument_that_is_not_a_linear(fact):
    with pytest.raises(ValueError, match=r"linear=Tensor: expected a torch\.nn\.Linear"):
        FACTORIZATIONS[fact].from_linear(torch.randn(6, 6), (2, 3), (3, 2), 2)


@pytest.mark.parametrize("fact", ["tt", "tr", "bt", "ht", "dense"])
def test_from_linear_of_a_zero_weight_is_exact(fact):
    """A zero-initialised layer (float32) is represented exactly: error 0, not 0 / 0 = NaN."""
    linear = nn.Linear(6, 6)
    with torch.no_grad():
        linear.weight.zero_()
    layer = FACTORIZATIONS[fact].from_linear(linear, (2, 3), (3, 2), 2)
    assert layer.decomposition_error == 0.0
    assert float(layer.to_dense().detach().abs().max()) == 0.0


@pytest.mark.parametrize("fact", ["tr", "bt"])
@pytest.mark.parametrize("als_iters", [-1, 2.5])
def test_from_linear_checks_als_iters(fact, als_iters):
    with pytest.raises(ValueError, match=rf"als_iters={als_iters}: expected an int >= 0"):
        FACTORIZATIONS[fact].from_linear(nn.Linear(6, 6), (2, 3), (3, 2), 2, als_iters=als_iters)


def test_ttmlp_checks_its_shapes_like_the_rnns():
    """An int shape is one mode everywhere; a missing one is named, not "'NoneType' is not iterable"."""
    from tensorrnn.nn import build_classifier

    mlp = build_classifier("mlp", 6, 4, 3, factorization="dense")
    assert (mlp.proj.in_shape, mlp.proj.out_shape) == ((6,), (4,))
    with pytest.raises(ValueError, match=r"hidden_shape=None: expected a non-empty sequence"):
        build_classifier("mlp", (2, 3), None, 3, rank=2)
