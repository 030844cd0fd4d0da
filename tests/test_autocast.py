"""Mixed precision (``--trainer.precision bf16-mixed``: autocast): every factorised layer and
RNN trains under ``torch.autocast``, its products in bfloat16, and its gradients match the
float32 ones to bfloat16's precision. The layers' hand-written backwards (``tensor.plan``'s
GEMMs, the BT sweep) compute in the dtype their forward computed in."""
from __future__ import annotations

import pytest
import torch

from tensorrnn.nn import build_classifier, factorized_linear

IN_SHAPE, OUT_SHAPE = (2, 3, 4, 5), (2, 2, 3, 2)
RANKS = {"tt": 3, "tr": 3, "bt": 3, "ht": 3}


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@pytest.mark.parametrize("fact", ["tt", "tr", "bt", "ht"])
@pytest.mark.parametrize("batch", [8, 300])  # 300: the BT sweep over several chunks
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_layer_under_autocast_matches_float32(fact, batch, dtype):
    torch.manual_seed(0)
    layer = factorized_linear(fact, IN_SHAPE, OUT_SHAPE, rank=RANKS[fact], **({"blocks": 2} if fact == "bt" else {}))
    x = torch.randn(batch, 120)
    y32 = layer(x)
    y32.square().sum().backward()
    grads32 = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    with torch.autocast("cpu", dtype=dtype):
        y16 = layer(x)
    y16.float().square().sum().backward()
    assert relative_error(y16, y32) < 2e-2  # bfloat16 keeps 8 bits of mantissa: ~0.4% a product
    for p, g32 in zip(layer.parameters(), grads32):
        assert p.grad.dtype == torch.float32  # parameters stay float32, their gradients too
        assert relative_error(p.grad, g32) < 5e-2


@pytest.mark.parametrize("arch,fact", [("gru", "tt"), ("lstm", "tr"), ("lstm", "bt"), ("lstm", "ht")])
def test_classifier_training_step_under_bf16_autocast(arch, fact):
    torch.manual_seed(0)
    model = build_classifier(arch, IN_SHAPE, (2, 2, 2, 2), 5, factorization=fact, rank=RANKS[fact],
                             **({"blocks": 2} if fact == "bt" else {}))
    x, y = torch.randn(4, 3, 120), torch.tensor([0, 1, 2, 4])
    model.loss(model(x), y).backward()
    grads32 = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.loss(model(x), y)
    loss.backward()
    for p, g32 in zip(model.parameters(), grads32):
        assert p.grad is not None and p.grad.dtype == torch.float32
        assert relative_error(p.grad, g32) < 0.1


def test_network_contraction_under_autocast():
    """``plan.contract`` (opt_einsum's pairwise tensordots, which autocast does not cast) casts
    its operands to the products' dtype itself."""
    from tensorrnn.tensor import bt_shapes, plan
    from tensorrnn.tensor.bt import bt_network

    torch.manual_seed(0)
    core_shape, factor_shapes = bt_shapes((2, 3, 4), (2, 2, 3), [2, 3, 2], 2)
    core, factors = torch.randn(core_shape), [torch.randn(s) for s in factor_shapes]
    x = torch.randn(5, 2, 3, 4)
    expected = plan.contract(bt_network(3), x, core, *factors)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = plan.contract(bt_network(3), x, core, *factors)
    assert y.dtype == torch.bfloat16 and relative_error(y, expected) < 2e-2
