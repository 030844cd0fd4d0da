"""The factorised linear layers: one suite, parametrised over the formats."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tensorrnn import papers
from tensorrnn.nn import BTLinear, DenseLinear, FactorizedLinear, TRLinear, TTLinear, factorized_linear

# (factorization, in_shape, out_shape, rank, blocks): small shapes, float64 checks
CASES = [
    ("tt", (2, 3, 4), (3, 2, 2), 3, 1),
    ("tt", (4, 5), (2, 6), [1, 4, 1], 1),
    ("tr", (2, 3, 4), (3, 4), [2, 3, 4, 3, 2], 1),
    ("tr", (3, 4), (2, 3, 2), 2, 1),
    ("bt", (2, 3, 4), (3, 2, 2), 2, 2),
    ("bt", (4, 5), (2, 6), [3, 2], 1),
    ("dense", (2, 3, 4), (3, 2, 2), None, 1),
]
IDS = [f"{c[0]}-{'x'.join(map(str, c[1]))}-{'x'.join(map(str, c[2]))}-{c[4]}b" for c in CASES]


def make(case, **kwargs) -> FactorizedLinear:
    fact, in_shape, out_shape, rank, blocks = case
    kwargs.setdefault("dtype", torch.float64)
    return factorized_linear(fact, in_shape, out_shape, rank=rank, blocks=blocks, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_equals_dense_reference(case):
    torch.manual_seed(0)
    layer = make(case)
    torch.nn.init.normal_(layer.bias)  # a non-zero bias, so its addition is checked too
    x = torch.randn(5, 7, layer.in_features, dtype=torch.float64)  # two leading batch dims
    expected = F.linear(x, layer.to_dense(), layer.bias)
    assert layer.to_dense().shape == (layer.out_features, layer.in_features)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rank", sorted(papers.TT_PARAM_TABLE))
def test_tt_param_count_matches_paper_table(rank):
    layer = TTLinear(papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, rank, bias=False)
    assert layer.num_factor_params == papers.TT_PARAM_TABLE[rank]["ttl"]
