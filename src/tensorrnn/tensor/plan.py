"""The contraction planner: one einsum path per (network, shapes), found once and cached.

A factorised layer is a small tensor network: the input ``x`` (B, m_1, ..., m_d) and the
cores. The order in which the pairwise contractions are done decides the cost by orders of
magnitude (contracting the input with the wrong core first can make an intermediate larger
than the input, or rebuild the dense weight). ``opt_einsum``'s dynamic-programming optimiser
finds the cheapest order for the actual shapes, batch size included; the resulting
``ContractExpression`` runs each pairwise step as a ``torch.tensordot`` / ``bmm`` and is cached
per shape, so planning costs nothing after the first call with a given batch size.

Networks are described with hashable labels (``("m", 0)``, ``("r", 1)``, ...) rather than
letters; :func:`equation` maps labels to einsum symbols with ``opt_einsum.get_symbol``.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import opt_einsum
from torch import Tensor

__all__ = ["Network", "equation", "contract", "expression", "path_cost", "macs_per_row"]

Labels = tuple[Hashable, ...]

#: Batch size used to plan when counting per-row multiply-adds (large enough that work which
#: does not touch the batch, such as merging two small cores, is amortised as in training).
NOMINAL_BATCH = 96


@dataclass(frozen=True)
class Network:
    """The index structure of a contraction: labels of each operand and of the output.

    Operand 0 is the input; its first label must be the batch label ``"batch"``.
    """

    inputs: tuple[Labels, ...]
    output: Labels

    def equation(self) -> str:
        return equation(self.inputs, self.output)


def equation(inputs: Sequence[Sequence[Hashable]], output: Sequence[Hashable]) -> str:
    """Einsum equation for operands labelled by hashable labels (symbols by first appearance)."""
    symbols: dict[Hashable, str] = {}
    for label in (lab for labels in inputs for lab in labels):
        if label not in symbols:
            symbols[label] = opt_einsum.get_symbol(len(symbols))
    missing = [lab for lab in output if lab not in symbols]
    if missing:
        raise ValueError(f"output labels {missing!r} do not occur in any input")
    lhs = ",".join("".join(symbols[lab] for lab in labels) for labels in inputs)
    return lhs + "->" + "".join(symbols[lab] for lab in output)


@lru_cache(maxsize=1024)
def expression(eq: str, shapes: tuple[tuple[int, ...], ...]) -> opt_einsum.contract.ContractExpression:
    """The cached, planned contraction for an equation and the operands' shapes."""
    # 'dp' finds the optimal order over connected sub-networks; minimising 'flops' with a
    # memory term would rarely change the order for these networks (intermediates that touch
    # the batch shrink with every core), so plain flops keep the plan predictable.
    optimizer = opt_einsum.DynamicProgramming(minimize="flops", search_outer=False)
    return opt_einsum.contract_expression(eq, *shapes, optimize=optimizer)


def contract(network: Network, *operands: Tensor) -> Tensor:
    """Contract ``operands`` (input first) along ``network`` with the cached plan for their shapes."""
    eq = network.equation()
    shapes = tuple(tuple(op.shape) for op in operands)
    return expression(eq, shapes)(*operands, backend="torch")


@lru_cache(maxsize=1024)
def _path(eq: str, shapes: tuple[tuple[int, ...], ...]):
    optimizer = opt_einsum.DynamicProgramming(minimize="flops", search_outer=False)
    return opt_einsum.contract_path(eq, *shapes, shapes=True, optimize=optimizer)[1]


def path_cost(eq: str, shapes: Sequence[Sequence[int]], batch_symbol: str | None = None) -> tuple[int, int]:
    """Multiply-adds of the planned path: ``(steps touching the batch index, other steps)``.

    A pairwise step costs the product of the sizes of all indices it involves.
    """
    info = _path(eq, tuple(tuple(s) for s in shapes))
    sizes = info.size_dict
    batch, other = 0, 0
    for step in info.contraction_list:
        inputs = step[2].split("->")[0].replace(",", "")
        cost = math.prod(sizes[c] for c in set(inputs))
        if batch_symbol is not None and batch_symbol in inputs:
            batch += cost
        else:
            other += cost
    return batch, other


def macs_per_row(network: Network, operand_shapes: Sequence[Sequence[int]]) -> int:
    """Multiply-adds per input row of the planned contraction at :data:`NOMINAL_BATCH`.

    ``operand_shapes`` are the shapes of the cores (the input's shape is built from the
    network's first operand with the batch set to :data:`NOMINAL_BATCH`). Steps that do not
    touch the batch (merging cores) are amortised over the batch and left out.
    """
    eq = network.equation()
    batch_symbol = eq[0]
    x_shape = (NOMINAL_BATCH, *operand_shapes[0])
    shapes = (x_shape, *(tuple(s) for s in operand_shapes[1:]))
    batch, _ = path_cost(eq, shapes, batch_symbol)
    return batch // NOMINAL_BATCH
