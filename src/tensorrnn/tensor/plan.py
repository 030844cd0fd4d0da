"""The contraction planners: one plan per shape, found once and cached.

Three planners:

- :func:`plan_chain` / :func:`chain_contract` for a chain of TT-matrix cores (TT, and the
  input half of a TR): the cores are cut into groups of neighbours, each group is merged into
  one small weight (weights only, cheap) and the input is swept from the last group to the
  first with one matrix multiplication per group. The row-major layout makes the first step a
  plain GEMM on the input's own memory (no copy of the input) and every later step a GEMM on a
  small state. The grouping is chosen by dynamic programming over a cost that counts
  multiply-adds and memory traffic, which is what the time of these skinny GEMMs follows.
- :func:`plan_bt` for a block-term matrix: the Tucker blocks are swept together like a chain
  (last input mode first, one batched GEMM per mode for all blocks, the core merged beforehand
  into the factor where the sweep turns), over batch chunks that stay in cache. Handing the
  whole network to ``opt_einsum`` instead gives an order with about as many multiply-adds but
  permuted copies of input-sized intermediates, about 4x slower.
- :func:`contract` for any other network, with ``opt_einsum``'s optimiser.

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
import torch
from torch import Tensor

__all__ = ["Network", "equation", "contract", "expression", "path_cost", "macs_per_row",
           "ChainPlan", "plan_chain", "merge_cores", "input_gemm", "shared_weight_bmm", "chain_contract",
           "BTPlan", "plan_bt"]

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


def _optimizer() -> opt_einsum.DynamicProgramming:
    # 'dp' finds the optimal order over connected sub-networks; minimising 'flops' with a
    # memory term would rarely change the order for these networks (intermediates that touch
    # the batch shrink with every core), so plain flops keep the plan predictable. One
    # definition, so that path_cost counts the order that expression runs.
    return opt_einsum.DynamicProgramming(minimize="flops", search_outer=False)


@lru_cache(maxsize=1024)
def expression(eq: str, shapes: tuple[tuple[int, ...], ...]) -> opt_einsum.contract.ContractExpression:
    """The cached, planned contraction for an equation and the operands' shapes."""
    return opt_einsum.contract_expression(eq, *shapes, optimize=_optimizer())


def autocast_dtype(t: Tensor) -> torch.dtype | None:
    """The dtype autocast computes matrix products in on ``t``'s device (``torch.bfloat16`` under
    ``bf16-mixed``), or None where autocast is off."""
    device = t.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None


def in_dtype(dtype: torch.dtype | None, *tensors: Tensor | None) -> list[Tensor | None]:
    """``tensors``, the floating-point ones cast to ``dtype`` (all as they are when it is None).

    The hand-written backwards of this package's autograd Functions compute in the dtype their
    forward computed in: under autocast the forward's products ran in bfloat16 (or float16) while
    the saved weights are float32, and a backward runs without autocast, so it casts both
    itself; autograd then casts each gradient to its input's dtype."""
    if dtype is None:
        return list(tensors)
    return [t.to(dtype) if t is not None and t.is_floating_point() else t for t in tensors]


def contract(network: Network, *operands: Tensor) -> Tensor:
    """Contract ``operands`` (input first) along ``network`` with the cached plan for their shapes."""
    eq = network.equation()
    shapes = tuple(tuple(op.shape) for op in operands)
    # under autocast: the pairwise tensordots are not autocast ops, so cast every operand to the
    # products' dtype once (else a float32 core meets a bfloat16 intermediate)
    operands = in_dtype(autocast_dtype(operands[0]), *operands)
    return expression(eq, shapes)(*operands, backend="torch")


@lru_cache(maxsize=1024)
def _path(eq: str, shapes: tuple[tuple[int, ...], ...]):
    return opt_einsum.contract_path(eq, *shapes, shapes=True, optimize=_optimizer())[1]


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


# --- chains of TT-matrix cores --------------------------------------------------------------

#: Memory-traffic weight of the chain cost model: moving one element costs about as much time
#: as this many multiply-adds (measured on the 2-core CI CPU with skinny float32 GEMMs).
TRAFFIC_WEIGHT = 12
#: Largest merged group, in elements: merging is meant to make small GEMM weights, never to
#: rebuild a large part of the dense matrix.
MAX_MERGED = 1 << 16


@dataclass(frozen=True)
class ChainPlan:
    """Groups of consecutive cores ``(first, last)``, in the order they are contracted
    (right to left), and the multiply-adds per input row of that sweep."""

    groups: tuple[tuple[int, int], ...]
    macs_per_row: int


def _group_cost(ms, ns, ranks, a, b, batch):
    """(cost, multiply-adds) of contracting merged cores ``a..b`` when ``b+1..`` are done."""
    d = len(ms)
    m_group, n_group, m_left = math.prod(ms[a:b + 1]), math.prod(ns[a:b + 1]), math.prod(ms[:a])
    merged = ranks[a] * m_group * n_group * ranks[b + 1]
    if b > a and merged > MAX_MERGED:
        return math.inf, 0
    rows = batch * m_left
    if b == d - 1:  # first step: (B m_left, m_group) @ (m_group, r_a n_group r_d), on x itself
        macs = rows * m_group * ranks[a] * n_group * ranks[d]
        traffic = rows * m_group + rows * ranks[a] * n_group * ranks[d]
    else:  # later step: the state is permuted so that (m_group, r_{b+1}) is the inner dimension
        n_acc = math.prod(ns[b + 1:]) * ranks[d]
        state = rows * m_group * ranks[b + 1] * n_acc
        out = rows * ranks[a] * n_group * n_acc
        macs = state * ranks[a] * n_group
        traffic = 3 * state + out  # read, permuted copy (write + read), write
    merge = merged * max(ranks) * (b - a)  # weights only, once per call
    return macs + TRAFFIC_WEIGHT * traffic + merge, macs


@lru_cache(maxsize=1024)
def plan_chain(ms: tuple[int, ...], ns: tuple[int, ...], ranks: tuple[int, ...], batch: int) -> ChainPlan:
    """Best grouping of a chain of cores ``(r_k, m_k, n_k, r_{k+1})`` for a batch of ``batch`` rows.

    Dynamic programming over the suffix already contracted: the cost of a group depends only
    on its ends, so ``best[a] = min_b cost(a..b) + best[b + 1]``.
    """
    d = len(ms)
    best, choice, macs = [0.0] * (d + 1), [0] * d, [0] * (d + 1)
    for a in range(d - 1, -1, -1):
        best[a] = math.inf
        for b in range(a, d):
            cost, m = _group_cost(ms, ns, ranks, a, b, batch)
            if cost + best[b + 1] < best[a]:
                best[a], choice[a], macs[a] = cost + best[b + 1], b, m + macs[b + 1]
    groups, a = [], 0
    while a < d:
        groups.append((a, choice[a]))
        a = choice[a] + 1
    return ChainPlan(tuple(reversed(groups)), -(-macs[0] // batch))


def merge_cores(cores: Sequence[Tensor]) -> Tensor:
    """Merge neighbouring cores ``(r, m, n, r')`` into one ``(r_first, prod m, prod n, r_last)``."""
    merged = cores[0]
    for core in cores[1:]:
        r, m, n, _ = merged.shape
        _, m2, n2, r2 = core.shape
        merged = torch.einsum("amnr,rpqs->ampnqs", merged, core).reshape(r, m * m2, n * n2, r2)
    return merged


class _InputGemm(torch.autograd.Function):
    """``a @ w`` for an input-sized ``a`` ``(rows, K)`` and a small weight ``w`` ``(K, N)``.

    Autograd's own backward computes the weight's gradient as ``a^T @ g``; this one computes
    ``(g^T @ a)^T``, the same numbers from MKL's faster orientation for this shape (a long
    inner dimension ``rows``, a small ``K x N`` result): for the UCF11 HT layer's first GEMM
    (rows 15,360, 360 x 112) about 25% less CPU time on one thread, measured interleaved. The
    backward is made of differentiable operations, so double backward works as before.
    """

    @staticmethod
    def forward(ctx, a: Tensor, w: Tensor) -> Tensor:
        ctx.save_for_backward(a, w)
        ctx.dtype = autocast_dtype(a)
        return a @ w

    @staticmethod
    def backward(ctx, grad: Tensor):
        a, w, grad = in_dtype(ctx.dtype, *ctx.saved_tensors, grad)
        da = grad @ w.T if ctx.needs_input_grad[0] else None
        dw = (grad.T @ a).T if ctx.needs_input_grad[1] else None
        return da, dw


def input_gemm(a: Tensor, w: Tensor) -> Tensor:
    """``a @ w`` with the weight gradient of :class:`_InputGemm` (plain ``@`` when nothing
    needs a gradient, so inference records nothing)."""
    if torch.is_grad_enabled() and (a.requires_grad or w.requires_grad):
        return _InputGemm.apply(a, w)
    return a @ w


class _SharedWeightBmm(torch.autograd.Function):
    """``w @ s[i]`` for every ``i``: one weight ``(O, K)`` against a stack ``s`` ``(P, K, N)``.

    One batched GEMM on the stack's own memory (the weight broadcast, never copied). The
    backward gives ``ds[i] = w^T @ g[i]`` the same way, and the weight's gradient as one GEMM
    over ``(i, n)`` (``tensordot``) instead of autograd's ``(P, O, K)`` stack of per-item
    gradients summed afterwards. Differentiable operations, so double backward works.
    """

    @staticmethod
    def forward(ctx, w: Tensor, s: Tensor) -> Tensor:
        ctx.save_for_backward(w, s)
        ctx.dtype = autocast_dtype(s)
        return torch.bmm(w.expand(s.shape[0], *w.shape), s)

    @staticmethod
    def backward(ctx, grad: Tensor):
        w, s, grad = in_dtype(ctx.dtype, *ctx.saved_tensors, grad)
        dw = torch.tensordot(grad, s, dims=([0, 2], [0, 2])) if ctx.needs_input_grad[0] else None
        ds = torch.bmm(w.T.expand(s.shape[0], w.shape[1], w.shape[0]), grad) if ctx.needs_input_grad[1] else None
        return dw, ds


def shared_weight_bmm(w: Tensor, s: Tensor) -> Tensor:
    """``w @ s[i]`` for every ``i`` of ``s`` ``(P, K, N)``; ``w`` ``(O, K)``; returns ``(P, O, N)``.

    Between the groups of the chain sweep this replaced a batched GEMM on transposed views,
    ``(N, K) @ (K, O)`` per item, which ``matmul`` runs on a permuted copy of the state: for
    the UCF11 HT layer's tail (768 items of ``(28, 140) @ (140, 16)``) about 3x less forward
    time and 25% less forward+backward, measured interleaved on one and two threads.
    """
    if torch.is_grad_enabled() and (w.requires_grad or s.requires_grad):
        return _SharedWeightBmm.apply(w, s)
    return torch.bmm(w.expand(s.shape[0], *w.shape), s)


def chain_contract(x: Tensor, cores: Sequence[Tensor], plan: ChainPlan) -> Tensor:
    """Sweep ``x`` ``(B, prod m)`` through the chain; returns ``(B, r_0, prod n * r_d)``.

    The state after a group ending the sweep at core ``a`` is ``(B, m_1..m_{a-1}, r_a, N)``
    in memory, ``N`` the output modes done so far (then ``r_d``), so the next group contracts
    the adjacent pair ``(m_{a-1}, r_a)``: per row of the input and remaining input modes, a
    contiguous ``(M r_{b+1}, N)`` block, which the merged group's weight multiplies from the
    left (:func:`shared_weight_bmm`; no copy of the state, and the new modes land in front of
    ``N`` in output order).
    """
    batch = x.shape[0]
    first, *rest = plan.groups
    g = merge_cores(cores[first[0]:first[1] + 1])  # (r_a, M, N_g, r_d)
    r, m, n, r_last = g.shape
    state = input_gemm(x.reshape(-1, m), g.permute(1, 0, 2, 3).reshape(m, r * n * r_last))  # (B m_left, r_a N_g r_d)
    n_acc = n * r_last
    for a, b in rest:
        g = merge_cores(cores[a:b + 1])  # (r_a, M, N_g, r_{b+1})
        r, m, n, r_next = g.shape
        weight = g.permute(0, 2, 1, 3).reshape(r * n, m * r_next)  # (r_a N_g, M r_{b+1})
        state = state.reshape(-1, m * r_next, n_acc)  # (B m_left, M r_{b+1}, N_acc)
        state = shared_weight_bmm(weight, state)  # (B m_left, r_a N_g, N_acc)
        n_acc *= n
    return state.reshape(batch, -1, n_acc)


# --- block-term (sum of Tucker blocks) ------------------------------------------------------

#: Largest intermediate of one batch chunk of a block-term contraction, in elements. A chunk's
#: intermediates stay in the CPU caches (and below glibc's 32 MiB mmap threshold, above which
#: every fresh buffer is page-faulted in again); the input chunk is then read from memory once
#: for all blocks. Measured on the 2-core CI CPU: 1 << 20 (4 MiB float32) is in the flat optimum.
BT_CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class BTPlan:
    """How each Tucker block of a block-term contraction is swept, for one shape and batch.

    Modes ``d-1 .. split+1`` are contracted with their factors, last input mode first (the
    first for all blocks in one GEMM on the input); then the core, merged beforehand with
    factor ``split`` (weights only), contracts the remaining ranks of those modes together
    with ``m_split`` (one GEMM per combination of those ranks, summed); then modes
    ``split-1 .. 0`` contract ``(m_k, r_k)``. The batch is processed ``chunk`` rows at a
    time. ``macs_per_row`` counts one block.
    """

    split: int
    chunk: int
    macs_per_row: int


def _bt_sweep(ms, ns, ranks, split):
    """(cost, multiply-adds, largest intermediate) per input row and block for one ``split``."""
    d = len(ms)
    state = math.prod(ms)
    macs = traffic = 0
    largest = state
    for k in range(d - 1, split, -1):  # GEMM on the state's last mode, output to the front
        out = state // ms[k] * ns[k] * ranks[k]
        macs += state * ns[k] * ranks[k]
        traffic += state + out
        state, largest = out, max(largest, out)
    width = ns[split] * math.prod(ranks[:split])
    swept = math.prod(ranks[split + 1:])  # P: the ranks of the swept modes, in front of the state
    out = state // (ms[split] * swept) * width
    macs += state * width
    # the merged core: one batched GEMM per combination of the swept ranks on the state's own
    # memory, P partial outputs written, then summed
    traffic += state + (2 * swept + 1) * out
    state, largest = out, max(largest, swept * out)
    for k in range(split - 1, -1, -1):  # small states: permute, then (m_k r_k) -> n_k
        out = state // (ms[k] * ranks[k]) * ns[k]
        macs += state * ns[k]
        traffic += 3 * state + out
        state = out
    return macs + TRAFFIC_WEIGHT * traffic, macs, largest


@lru_cache(maxsize=1024)
def plan_bt(ms: tuple[int, ...], ns: tuple[int, ...], ranks: tuple[int, ...], batch: int) -> BTPlan:
    """Best split of a Tucker block ``(m_k, n_k, R_k)`` by the cost model of :func:`plan_chain`.

    The multiply-adds are per input row and per block (every block has the same shape).
    """
    options = [(*_bt_sweep(ms, ns, ranks, s), s) for s in range(len(ms))]
    cost, macs, largest, split = min(options)
    chunk = max(1, min(batch, BT_CHUNK_ELEMENTS // largest))
    chunk = -(-batch // -(-batch // chunk)) if batch else 1  # equal chunks
    return BTPlan(split, chunk, macs)
