"""Block-term (sum of Tucker blocks) matrices (BT layer of Ye et al. 2018).

``W`` is a sum of ``N`` Tucker blocks over the paired modes ``(m_k, n_k)``: block ``b`` has a
core ``C_b`` of shape ``(R_1, ..., R_d)`` and ``d`` factors ``A_b^(k)`` of shape
``(m_k, n_k, R_k)``::

    W[(i_1..i_d), (j_1..j_d)] = sum_b sum_{r_1..r_d} C_b[r_1..r_d] prod_k A_b^(k)[i_k, j_k, r_k]

The blocks are stacked along a leading dimension: ``core`` is ``(N, R_1, ..., R_d)`` and
factor ``k`` is ``(N, m_k, n_k, R_k)``. :func:`bt_contract` sweeps all blocks together over
cache-sized chunks of the batch (see :func:`tensorrnn.tensor.plan.plan_bt`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from tensorrnn.tensor import plan
from tensorrnn.tensor.shapes import check_nonnegative_int, check_rank_list
from tensorrnn.tensor.tt import deinterleave, interleave

__all__ = [
    "bt_ranks", "bt_shapes", "bt_num_params", "bt_init_std", "bt_network", "bt_contract",
    "bt_to_dense", "bt_macs", "bt_norm", "bt_decompose",
]


def bt_ranks(rank: int | Sequence[int], in_shape: Sequence[int], out_shape: Sequence[int],
             clip: bool = True) -> list[int]:
    """Normalise ``rank`` to one rank per mode and clip ranks that cannot be useful.

    ``R_k`` is at most ``m_k n_k`` (the size of the mode) and at most ``prod_{j != k} R_j``
    (a Tucker core's mode-k unfolding cannot have a larger rank).
    """
    d = len(in_shape)
    ranks = check_rank_list("rank", rank, d)
    if not clip:
        return ranks
    ranks = [min(r, m * n) for r, m, n in zip(ranks, in_shape, out_shape)]
    changed = d > 1
    while changed:
        changed = False
        for k in range(d):
            bound = math.prod(ranks[:k] + ranks[k + 1:])
            if ranks[k] > bound:
                ranks[k], changed = bound, True
    return ranks


def bt_shapes(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int],
              blocks: int) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Shapes of the stacked core ``(N, R_1..R_d)`` and factors ``(N, m_k, n_k, R_k)``."""
    if len(in_shape) != len(out_shape) or len(ranks) != len(in_shape):
        raise ValueError(
            f"in_shape={tuple(in_shape)}, out_shape={tuple(out_shape)}, ranks={list(ranks)}: "
            f"a block-term matrix needs the same number of input modes, output modes and ranks")
    core = (blocks, *ranks)
    factors = [(blocks, m, n, r) for m, n, r in zip(in_shape, out_shape, ranks)]
    return core, factors


def bt_num_params(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int], blocks: int) -> int:
    """``N (sum_k I_k J_k R_k + prod_k R_k)`` (Ye et al. 2018)."""
    core, factors = bt_shapes(in_shape, out_shape, ranks, blocks)
    return math.prod(core) + sum(math.prod(f) for f in factors)


def bt_init_std(ranks: Sequence[int], blocks: int, std: float) -> float:
    """Std of i.i.d. Gaussian core and factor entries giving reconstructed entries of std ``std``.

    An entry of ``W`` sums ``N prod_k R_k`` products of ``d + 1`` independent zero-mean
    entries (one core entry, ``d`` factor entries): ``Var W = N prod R s^(2(d+1))``.
    """
    d = len(ranks)
    return (std ** 2 / (blocks * math.prod(ranks))) ** (1.0 / (2 * (d + 1)))


def bt_network(d: int) -> plan.Network:
    """Index structure of ``y = x W`` for a ``d``-mode block-term matrix (blocks stacked)."""
    x = ("batch", *(("m", k) for k in range(d)))
    core = ("block", *(("r", k) for k in range(d)))
    factors = tuple(("block", ("m", k), ("n", k), ("r", k)) for k in range(d))
    return plan.Network((x, core, *factors), ("batch", *(("n", k) for k in range(d))))


def _sweep_weights(core: Tensor, factors: Sequence[Tensor], split: int) -> tuple[dict, Tensor, dict]:
    """The GEMM operands of every block for a sweep split at mode ``split`` (weights only).

    Returns ``(right, merged, left)``: ``right[k]`` ``(N, R_k n_k, m_k)`` for ``k > split``;
    ``merged`` ``(N, P, m_split, n_split R_0..R_{split-1})``, the core contracted with factor
    ``split``, its ranks of the swept modes as ``P = R_{d-1}..R_{split+1}`` (that order, the
    order in which the sweep puts them in front of its state); ``left[k]`` ``(N, m_k R_k, n_k)``
    for ``k < split``.
    """
    blocks = core.shape[0]
    right = {k: f.permute(0, 3, 2, 1).reshape(blocks, -1, f.shape[1]) for k, f in enumerate(factors) if k > split}
    left = {k: f.permute(0, 1, 3, 2).reshape(blocks, -1, f.shape[2]) for k, f in enumerate(factors) if k < split}
    f = factors[split]
    _, m, n, r = f.shape
    others = core.movedim(split + 1, -1)  # (N, R_0..R_{split-1}, R_{split+1}..R_{d-1}, R_split)
    g = others.reshape(blocks, -1, r) @ f.reshape(blocks, m * n, r).transpose(1, 2)  # (N, R_others, m n)
    lead, trail = list(core.shape[1:split + 1]), list(core.shape[split + 2:])
    g = g.reshape(blocks, *lead, *trail, m, n)
    swept = range(len(lead) + len(trail), len(lead), -1)  # the dims of R_{d-1}..R_{split+1}
    order = [0, *swept, g.ndim - 2, g.ndim - 1, *range(1, len(lead) + 1)]
    merged = g.permute(order).reshape(blocks, math.prod(trail), m, n * math.prod(lead))
    return right, merged, left


def _per_block(fn, blocks: int, shape: Sequence[int], like: Tensor) -> Tensor:
    """``fn(b, out)`` for every block into one ``(N, *shape)`` tensor: written in place, or
    stacked when autograd records (a double backward)."""
    if torch.is_grad_enabled():
        return torch.stack([fn(b, None) for b in range(blocks)])
    out = like.new_empty((blocks, *shape))
    for b in range(blocks):
        fn(b, out[b])
    return out


def _bmm(a: Tensor, b: Tensor, out: Tensor | None) -> Tensor:
    return torch.bmm(a, b) if out is None else torch.bmm(a, b, out=out)


def _first_step(w: Tensor, x: Tensor) -> Tensor:
    """Every block's product with the last input mode in one GEMM on the input they share:
    ``(N, R n, m)`` and ``x`` ``(rest, m)`` in memory -> ``(N, R n, rest)``."""
    blocks, rn, m = w.shape
    return (w.reshape(-1, m) @ x.reshape(-1, m).T).view(blocks, rn, -1)


def _expand_blocks(w: Tensor, p: int) -> Tensor:
    """Per-block weights ``(N, K, W)`` repeated for ``p`` batches each: ``(N p, K, W)`` (small)."""
    return w.unsqueeze(1).expand(w.shape[0], p, *w.shape[1:]).flatten(0, 1)


def _step(w: Tensor, s: Tensor) -> Tensor:
    """``(N, R n, m)`` on a state ``(N, P, rows, m)``: ``(N, P, R n, rows)``, per ``(block, p)``
    ``w[b] @ s[b, p].T`` on the state's own memory (the new modes in front of the rows); one
    batched GEMM."""
    blocks, p, rows, m = s.shape
    out = torch.bmm(_expand_blocks(w, p), s.reshape(blocks * p, rows, m).transpose(1, 2))
    return out.view(blocks, p, w.shape[1], rows)


def _as_batches(s: Tensor, blocks: int, p: int, m: int) -> Tensor:
    """A state as ``(N, P, rows, m)``; the input (shared by the blocks) as ``(N, 1, rows, m)``."""
    if s.dim() == 2:
        return s.reshape(1, 1, -1, m).expand(blocks, 1, -1, m)
    return s.reshape(blocks, p, -1, m)


class _Sweep(torch.autograd.Function):
    """Every block's products with the factors of input modes ``d-1`` down to ``split+1``, then
    with the merged core, for one chunk of the batch.

    The first product is one GEMM for all blocks (they share the input, read once):
    ``(N R n, m_{d-1}) @ (m_{d-1}, rest)``. Each later one is ``(R_k n_k, m_k) @ (m_k, rows)``
    per block and per combination ``p`` of the ranks already swept, on the state's own memory
    (one batched GEMM for all ``(block, p)``): the state is ``(N, P, R_k n_k, ...)`` with
    ``P = R_{d-1}..R_{k+1}``, the next input mode last. The ranks of the swept modes so gather
    in front and the merged core contracts them as ``sum_p state[b, p] @ merged[b, p]`` (one
    batched GEMM, then the sum) with no permuted copy of the state, in the forward or the
    backward.

    The backward is written out so that, without ``keep_first``, it recomputes only the first
    state (input-sized; the input is kept by the caller anyway) and keeps the later ones, where
    checkpointing the whole sweep would recompute them all. Under ``create_graph`` the backward
    recomputes every state from the input, so second derivatives are exact too.
    """

    @staticmethod
    def forward(ctx, x: Tensor, keep_first: bool, swept: tuple, merged: Tensor, *weights: Tensor) -> Tensor:
        out, states = _Sweep._run(x, swept, merged, weights)
        ctx.swept, ctx.dtype = swept, plan.autocast_dtype(x)
        ctx.keep_first = keep_first or len(weights) <= 1  # a single step's input is x itself
        ctx.save_for_backward(merged, *weights, *(states if ctx.keep_first else [x, *states[2:]]))
        return out

    @staticmethod
    def _run(x: Tensor, swept: tuple, merged: Tensor, weights: Sequence[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """The output ``(N, rows, n_split R_<split)`` and the input of every step and of the core."""
        ranks, m_split = swept
        blocks = merged.shape[0]
        states = [x]
        for j, w in enumerate(weights):
            states.append(_first_step(w, x) if j == 0 else
                          _step(w, _as_batches(states[-1], blocks, math.prod(ranks[:j]), w.shape[2])))
        s = _as_batches(states[-1], blocks, math.prod(ranks), m_split)  # (N, P, rows, m_split)
        # one batched GEMM, then the sum over p: on 2 loaded cores far steadier than p small
        # accumulating GEMMs (addbmm), each an OpenMP barrier
        out = torch.bmm(s.flatten(0, 1), merged.flatten(0, 1))  # (N P, rows, n_split R_<split)
        return out.view(*s.shape[:3], merged.shape[-1]).sum(1), states

    @staticmethod
    def backward(ctx, grad: Tensor):
        steps = len(ctx.needs_input_grad) - 4
        *saved, grad = plan.in_dtype(ctx.dtype, *ctx.saved_tensors, grad)  # the forward's dtype (autocast)
        merged, weights, inputs = saved[0], saved[1:1 + steps], list(saved[1 + steps:])
        ranks, m_split = ctx.swept
        blocks = merged.shape[0]
        if torch.is_grad_enabled():
            # create_graph (a double backward, e.g. a gradient penalty): every state again from
            # the input, so that the graph of this backward reaches the input and the weights
            # (the states kept by the forward were made without a graph)
            _, inputs = _Sweep._run(inputs[0], ctx.swept, merged, weights)
        elif not ctx.keep_first:
            inputs.insert(1, _first_step(weights[0], inputs[0]))
        grad = grad.contiguous()  # (N, rows, n_split R_<split)
        s = _as_batches(inputs[-1], blocks, math.prod(ranks), m_split)  # (N, P, rows, m_split)
        p = s.shape[1]
        dmerged = None
        if ctx.needs_input_grad[3]:
            dmerged = torch.stack([torch.bmm(s[b].transpose(1, 2), grad[b].expand(p, -1, -1)) for b in range(blocks)])
        grads = [None] * steps
        if steps == 0:  # the core read the input itself
            dx = None
            if ctx.needs_input_grad[0]:
                dx = sum(grad[b] @ merged[b, 0].T for b in range(blocks)).view(inputs[0].shape)
            return dx, None, None, dmerged
        # the gradient of the last state, in its own layout (N, P, rows, m_split)
        g = _per_block(lambda b, out: _bmm(grad[b].expand(p, -1, -1), merged[b].transpose(1, 2), out),
                       blocks, s.shape[1:], s)
        for j in range(steps - 1, 0, -1):
            w = weights[j]
            rn, m = w.shape[1:]
            sin = _as_batches(inputs[j], blocks, math.prod(ranks[:j]), m)  # (N, P', rows', m)
            go = g.reshape(blocks * sin.shape[1], rn, sin.shape[2])  # (N P', R n, rows')
            if ctx.needs_input_grad[4 + j]:
                grads[j] = torch.bmm(go, sin.flatten(0, 1)).view(sin.shape[:2] + (rn, m)).sum(1)
            # (N, P', rows', m): the layout of the step's input
            g = torch.bmm(go.transpose(1, 2), _expand_blocks(w, sin.shape[1])).view(sin.shape)
        w = weights[0]
        m = w.shape[2]
        g = g.reshape(w.shape[0] * w.shape[1], inputs[0].numel() // m)  # (N R n, rest)
        if ctx.needs_input_grad[4]:
            grads[0] = (g @ inputs[0].reshape(-1, m)).view(w.shape)
        dx = (g.T @ w.reshape(-1, m)).view(inputs[0].shape) if ctx.needs_input_grad[0] else None
        return dx, None, None, dmerged, *grads


def _block_gemm(t: Tensor, labels: list, sizes: dict, contracted: list, weight: Tensor,
                new: list) -> tuple[Tensor, list]:
    """Per block, contract the ``contracted`` labels of ``t`` with ``weight`` ``(N, K, W)``; the
    ``new`` labels go last. ``t``'s first label is ``"block"``; it is permuted so that the
    contracted labels are its innermost dimensions (a view when they already are)."""
    free = [lab for lab in labels if lab not in contracted]
    t = t.reshape([sizes[lab] for lab in labels]).permute([labels.index(lab) for lab in free + contracted])
    return torch.matmul(t.reshape(weight.shape[0], -1, weight.shape[1]), weight), free + new


def bt_contract(x: Tensor, core: Tensor, factors: Sequence[Tensor], *, sweep: plan.BTPlan | None = None,
                recompute: bool | None = None) -> Tensor:
    """``x @ W`` for ``x`` of shape ``(..., I)``; returns ``(..., O)``. The dense ``W`` is never built.

    The Tucker blocks are swept together as ``sweep`` says (default: :func:`plan.plan_bt` for
    these shapes and batch), over chunks of the batch small enough to stay in cache, so the
    input chunk is read from memory once for all blocks. ``recompute`` (default: whenever
    autograd records) recomputes the blocks' first, input-sized states in the backward instead
    of keeping them.
    """
    in_shape = tuple(f.shape[1] for f in factors)
    out_shape = tuple(f.shape[2] for f in factors)
    ranks = tuple(f.shape[3] for f in factors)
    d, blocks = len(in_shape), core.shape[0]
    batch_shape = x.shape[:-1]
    xs = x.reshape(-1, math.prod(in_shape))  # (B, I)
    p = sweep or plan.plan_bt(in_shape, out_shape, ranks, xs.shape[0])
    split = p.split
    right, merged, left = _sweep_weights(core, factors, split)
    swept = (tuple(ranks[k] for k in range(d - 1, split, -1)), in_shape[split])
    sizes = {("m", k): m for k, m in enumerate(in_shape)} | {("n", k): n for k, n in enumerate(out_shape)}
    sizes |= {("r", k): r for k, r in enumerate(ranks)} | {"block": blocks}
    if recompute is None:
        recompute = torch.is_grad_enabled() and any(t.requires_grad for t in (x, core, *factors))
    # per chunk, the sweep up to the core: (N, n_{split+1}..n_{d-1}, C, m_0..m_{split-1}, n_split R_<split)
    n_after = math.prod(out_shape[split + 1:])
    width = math.prod(in_shape[:split]) * out_shape[split] * math.prod(ranks[:split])
    chunks = [_Sweep.apply(xc, not recompute, swept, merged, *(right[k] for k in range(d - 1, split, -1)))
              .view(blocks, n_after, xc.shape[0], width) for xc in xs.split(p.chunk)]
    # the rest is small (for UCF11 7% of the input): once for the whole batch, not per chunk
    t = chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=2)
    sizes["batch"] = xs.shape[0]
    labels = ["block", *(("n", k) for k in range(split + 1, d)), "batch", *(("m", k) for k in range(split)),
              ("n", split), *(("r", k) for k in range(split))]
    for k in range(split - 1, -1, -1):
        t, labels = _block_gemm(t, labels, sizes, [("m", k), ("r", k)], left[k], [("n", k)])
    order = ["block", "batch", *(("n", k) for k in range(d))]
    t = t.reshape([sizes[lab] for lab in labels]).permute([labels.index(lab) for lab in order])
    y = t.sum(0).reshape(xs.shape[0], math.prod(out_shape))  # (B, O): the blocks summed
    return y.reshape(*batch_shape, math.prod(out_shape))


def _tucker(core: Tensor, mats: Sequence[Tensor]) -> Tensor:
    """``core x_1 mats[0] x_2 ... x_d mats[d-1]`` with ``mats[k]`` of shape ``(D_k, R_k)``."""
    t = core
    for mat in mats:
        # contract the leading rank mode; the new mode goes last, so after d steps the order is restored
        t = torch.tensordot(t, mat, dims=([0], [1]))
    return t


def bt_to_dense(core: Tensor, factors: Sequence[Tensor]) -> Tensor:
    """The dense matrix ``(I, O)``: the sum of the blocks' Tucker tensors."""
    in_shape = [f.shape[1] for f in factors]
    out_shape = [f.shape[2] for f in factors]
    total = sum(
        _tucker(core[b], [f[b].reshape(-1, f.shape[-1]) for f in factors])  # (m_1 n_1, ..., m_d n_d)
        for b in range(core.shape[0]))
    return deinterleave(total, in_shape, out_shape)


def bt_macs(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int], blocks: int) -> int:
    """Multiply-adds per input row of the planned sweep (:func:`plan.plan_bt`), all blocks.

    Merging the core with a factor touches weights only and is left out, as in the TT count.
    """
    bt_shapes(in_shape, out_shape, ranks, blocks)  # validates
    sweep = plan.plan_bt(tuple(in_shape), tuple(out_shape), tuple(ranks), plan.NOMINAL_BATCH)
    return blocks * sweep.macs_per_row


def _grams(factors: Sequence[Tensor]) -> list[Tensor]:
    """Per mode, the Gram matrices between all pairs of blocks: ``(N, N, R_k, R_k)``."""
    return [torch.einsum("amnr,bmns->abrs", f, f) for f in factors]


def bt_norm(core: Tensor, factors: Sequence[Tensor]) -> Tensor:
    """Frobenius norm of the block-term matrix, without building it."""
    # ||sum_b X_b||^2 = sum_{b,c} < C_b x_k (A_b^T A_c), C_c >
    n, d = core.shape[0], core.ndim - 1
    total = core.new_zeros(())
    grams = _grams(factors)
    for b in range(n):
        for c in range(n):
            x = core[c]
            for k in range(d):
                # mode-k product of C_c with the (R_k, R_k) Gram between blocks b and c
                x = torch.movedim(torch.tensordot(grams[k][b, c], x, dims=([1], [k])), 0, k)
            total = total + (core[b] * x).sum()
    return total.clamp_min(0).sqrt()


def _mode_product(t: Tensor, mat: Tensor, k: int) -> Tensor:
    """``t x_k mat``: mode ``k`` of ``t`` (size ``mat.shape[1]``) becomes size ``mat.shape[0]``."""
    return torch.movedim(torch.tensordot(mat, t, dims=([1], [k])), 0, k)


def _leading_subspace(t: Tensor, k: int, rank: int) -> Tensor:
    """The ``rank`` leading left singular vectors of the mode-``k`` unfolding (zero-padded)."""
    unfolding = torch.movedim(t, k, 0).reshape(t.shape[k], -1)
    _, vecs = torch.linalg.eigh(unfolding @ unfolding.T)  # ascending eigenvalues; cheap: D_k x D_k
    basis = vecs.flip(-1)[:, :rank]
    if basis.shape[1] < rank:
        basis = torch.cat([basis, basis.new_zeros(basis.shape[0], rank - basis.shape[1])], dim=1)
    return basis


def _hosvd_blocks(t: Tensor, ranks: Sequence[int], blocks: int) -> tuple[Tensor, list[Tensor]]:
    """Greedy start: the truncated HOSVD of the residual, one block after the other."""
    residual, cores, mats = t, [], [[] for _ in ranks]
    for _ in range(blocks):
        basis = [_leading_subspace(residual, k, r) for k, r in enumerate(ranks)]
        core = residual
        for k, u in enumerate(basis):
            core = _mode_product(core, u.T, k)  # (R_1, ..., R_d)
        block = core
        for k, u in enumerate(basis):
            block = _mode_product(block, u, k)
        residual = residual - block
        cores.append(core)
        for k, u in enumerate(basis):
            mats[k].append(u)
    return torch.stack(cores), [torch.stack(m) for m in mats]  # (N, R..), [(N, D_k, R_k)]


def _project(t: Tensor, mats: Sequence[Tensor], b: int, skip: int | None = None) -> Tensor:
    """``t x_j mats[j][b]^T`` for every mode ``j`` except ``skip``."""
    for j, m in enumerate(mats):
        if j != skip:
            t = _mode_product(t, m[b].T, j)
    return t


def _apply_grams(core: Tensor, grams: Sequence[Tensor], skip: int | None = None) -> Tensor:
    """``core x_j grams[j]`` for every mode ``j`` except ``skip``."""
    for j, g in enumerate(grams):
        if j != skip:
            core = _mode_product(core, g, j)
    return core


def _bt_als(t: Tensor, core: Tensor, mats: list[Tensor], iters: int, tol: float) -> tuple[Tensor, list[Tensor], float]:
    """Alternating least squares for all blocks jointly: factors of one mode, then all cores.

    Every step is an exact least-squares solve, so the error never increases. The normal
    equations are assembled from Gram matrices ``A_b^T A_c`` (``R_k x R_k``) and projections of
    ``t`` onto one block's factors, so no matrix of the size of ``t`` times a rank is formed.
    """
    n, d = core.shape[0], core.ndim - 1
    norm = t.norm().clamp_min(torch.finfo(t.dtype).tiny)  # 1e-300 is 0 in float32: 0 / 0

    def rel_error(core, mats):
        # measured on the reconstruction: the expansion ||T||^2 - 2<T, X> + ||X||^2 loses
        # half the digits to cancellation near an exact fit
        approx = sum(_tucker(core[b], [m[b] for m in mats]) for b in range(n))
        return float((approx - t).norm() / norm)

    error = rel_error(core, mats)
    for _ in range(iters):
        for k in range(d):
            grams = [torch.einsum("aDr,bDs->abrs", m, m) for m in mats]
            r_k = core.shape[k + 1]
            # rhs[:, b] = T_(k) Z_b^T ; lhs[b, c] = Z_b Z_c^T, Z_b = (C_b x_{j!=k} A_b^(j))_(k)
            rhs = torch.cat([
                torch.tensordot(_project(t, mats, b, skip=k), core[b],
                                dims=([j for j in range(d) if j != k], [j for j in range(d) if j != k]))
                for b in range(n)], dim=1)  # (D_k, N R_k)
            lhs = t.new_empty(n * r_k, n * r_k)
            for b in range(n):
                for c in range(n):
                    x = _apply_grams(core[c], [g[b, c] for g in grams], skip=k)
                    other = [j for j in range(d) if j != k]
                    lhs[b * r_k:(b + 1) * r_k, c * r_k:(c + 1) * r_k] = torch.tensordot(core[b], x, dims=(other, other))
            # lhs is symmetric and singular when blocks overlap or ranks exceed the data's; the
            # eigenvalue pseudo-inverse gives the exact minimiser there (gelsy can misjudge the rank)
            sol = (torch.linalg.pinv(lhs, hermitian=True) @ rhs.T).T  # (D_k, N R_k)
            mats[k] = sol.reshape(-1, n, r_k).permute(1, 0, 2).contiguous()
        grams = [torch.einsum("aDr,bDs->abrs", m, m) for m in mats]
        size = core[0].numel()
        # core update: M[(b, r), (c, r')] = prod_j G_j[b, c][r_j, r'_j], rhs[b] = T x_j A_b^(j)^T
        lhs = t.new_empty(n * size, n * size)
        for b in range(n):
            for c in range(n):
                kron = grams[0][b, c]
                for g in grams[1:]:
                    kron = torch.kron(kron, g[b, c])
                lhs[b * size:(b + 1) * size, c * size:(c + 1) * size] = kron
        rhs = torch.cat([_project(t, mats, b).reshape(-1) for b in range(n)])
        core = (torch.linalg.pinv(lhs, hermitian=True) @ rhs).reshape(core.shape)
        new_error = rel_error(core, mats)
        done = error - new_error < tol or new_error < tol
        error = new_error
        if done:
            break
    return core, mats, error


def bt_decompose(matrix: Tensor, in_shape: Sequence[int], out_shape: Sequence[int],
                 rank: int | Sequence[int], blocks: int = 1, als_iters: int = 50,
                 tol: float = 1e-12) -> tuple[Tensor, list[Tensor], float]:
    """Block-term decomposition of a dense ``(I, O)`` matrix: greedy HOSVD blocks, then ALS.

    Block after block, the truncated HOSVD of the residual gives a start (exact for
    ``blocks=1`` when the Tucker ranks are ``<= rank``); joint ALS sweeps over all blocks then
    refine it.

    Returns:
        ``(core (N, R_1..R_d), factors [(N, m_k, n_k, R_k)], relative Frobenius error)``.
    """
    expected = (math.prod(in_shape), math.prod(out_shape))
    if matrix.ndim != 2 or tuple(matrix.shape) != expected:
        raise ValueError(
            f"matrix.shape={tuple(matrix.shape)}: expected {expected} for in_shape={tuple(in_shape)}, "
            f"out_shape={tuple(out_shape)}")
    als_iters = check_nonnegative_int("als_iters", als_iters)
    ranks = bt_ranks(rank, in_shape, out_shape)
    t = interleave(matrix, in_shape, out_shape)  # (m_1 n_1, ..., m_d n_d)
    core, mats = _hosvd_blocks(t, ranks, blocks)
    core, mats, error = _bt_als(t, core, mats, als_iters, tol)
    factors = [m.reshape(blocks, mi, ni, r) for m, mi, ni, r in zip(mats, in_shape, out_shape, ranks)]
    return core, factors, error
