"""Hierarchical Tucker matrices (HT-matrix; Hackbusch & Kuehn 2009, Grasedyck 2010; HT-LSTM of
Yin et al. 2020).

The ``d`` paired modes ``(m_k, n_k)`` of ``W`` (shape ``(I, O)``, ``I = m_1...m_d``,
``O = n_1...n_d``) are the leaves of a binary dimension tree. Leaf ``k`` holds a frame ``U_k``
of shape ``(m_k, n_k, r_k)``; an inner node ``t`` with children ``l`` and ``r`` holds a transfer
tensor ``B_t`` of shape ``(r_t, r_l, r_r)``, which builds the node's frame from its children's::

    U_t[(i_l, i_r), a] = sum_{b, c} B_t[a, b, c] U_l[i_l, b] U_r[i_r, c]

and the root's frame (rank ``r_root = 1``) is ``W``, as the tensor of the paired modes
``(m_1 n_1, ..., m_d n_d)``. Multi-indices are row-major, as for TT.

**The tree** is given as nested pairs of mode numbers, e.g. ``((0, 1), (2, 3))`` (the balanced
tree of :func:`ht_tree`, the default); its leaves, read left to right, must be the modes
``0..d-1`` in order (a tree over the modes in another order is this tree over permuted
shapes). **Nodes are numbered** leaves first (node ``k`` is mode ``k``), then the inner nodes in
post-order (children before their parent, left subtree first), the root last; ranks are listed
in that order (:func:`ht_nodes` gives each node's modes). ``transfers`` is the list of transfer
tensors in that order (the root's ``(1, r_l, r_r)`` last).

**Contraction.** For a tree whose leaves are in order, the HT-matrix is a TT-matrix whose cores
are the leaf frames with every transfer tensor merged into one of the two leaves next to its
split (and identities for edges that pass a core), so :func:`ht_contract` converts the weights
to that chain (weights only, a few thousand numbers) and sweeps the input with the TT planner
(:func:`tensorrnn.tensor.plan.plan_chain`): the last leaf first, one GEMM on the input's own
memory, the dense ``W`` never built. Where each transfer tensor goes is chosen once per shape
for the fewest multiply-adds. For the balanced tree of 4 modes the chain's bonds are single
edges of the tree, ``(1, r_1, r_{root edge}, r_4, 1)``.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor

from tensorrnn.tensor import plan
from tensorrnn.tensor.shapes import check_rank_list, check_shape
from tensorrnn.tensor.tt import deinterleave, interleave

__all__ = [
    "ht_tree", "check_tree", "ht_nodes", "ht_ranks", "ht_shapes", "ht_num_params", "ht_init_std",
    "ht_chain", "ht_contract", "ht_to_dense", "ht_macs", "ht_norm", "ht_svd",
]

#: Largest number of inner nodes for which every placement of the transfer tensors on the
#: chain is compared (2^n placements); above it, each goes to the leaf left of its split.
_MAX_SEARCHED_NODES = 10


# --- the tree ------------------------------------------------------------------------------------

def ht_tree(d: int) -> int | tuple:
    """The balanced dimension tree over modes ``0..d-1``: split in halves (the left one the
    larger), recursively. ``ht_tree(4) == ((0, 1), (2, 3))``, ``ht_tree(3) == ((0, 1), 2)``."""

    def build(lo: int, hi: int):
        if hi - lo == 1:
            return lo
        mid = lo + (hi - lo + 1) // 2
        return (build(lo, mid), build(mid, hi))

    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"d={d!r}: expected a positive number of modes")
    return build(0, d)


def check_tree(tree: object, d: int) -> int | tuple:
    """Validate a dimension tree for ``d`` modes (``None``: the balanced :func:`ht_tree`).

    Returns the tree as nested tuples. Raises ``ValueError`` naming the tree and what was
    expected unless it is nested pairs whose leaves, left to right, are ``0..d-1``.
    """
    if tree is None:
        return ht_tree(d)
    expected = (f"expected a binary tree (nested pairs) whose leaves, read left to right, are the "
                f"modes 0..{d - 1} in order, each once ({d} modes)")
    leaves: list[object] = []

    def canon(node):
        if isinstance(node, int) and not isinstance(node, bool):
            leaves.append(node)
            return node
        if isinstance(node, Sequence) and not isinstance(node, str) and len(node) == 2:
            return (canon(node[0]), canon(node[1]))
        raise ValueError(f"tree={tree!r}: the node {node!r} is neither a mode nor a pair; {expected}")

    result = canon(tree)
    if leaves != list(range(d)):
        raise ValueError(f"tree={tree!r}: its leaves are {leaves}; {expected}")
    return result


@lru_cache(maxsize=256)
def _structure(tree) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """``(children, spans)``: ``children[t - d]`` = ``(left, right)`` of inner node ``t``;
    ``spans[t]`` = the modes ``[first, last]`` under node ``t``, for every node."""
    d = len(_leaves(tree))
    children: list[tuple[int, int]] = []
    spans: dict[int, tuple[int, int]] = {}

    def visit(node) -> int:
        if isinstance(node, int):
            spans[node] = (node, node)
            return node
        left, right = visit(node[0]), visit(node[1])
        t = d + len(children)
        children.append((left, right))
        spans[t] = (spans[left][0], spans[right][1])
        return t

    visit(tree)
    return tuple(children), tuple(spans[t] for t in range(2 * d - 1))


def _leaves(tree) -> list[int]:
    return [tree] if isinstance(tree, int) else _leaves(tree[0]) + _leaves(tree[1])


def ht_nodes(d: int, tree=None) -> list[tuple[int, ...]]:
    """The modes under each node, in the node order of the ranks (leaves, inner nodes in
    post-order, root last). ``ht_nodes(4)`` (the balanced tree ``((0, 1), (2, 3))``) is
    ``[(0,), (1,), (2,), (3,), (0, 1), (2, 3), (0, 1, 2, 3)]``."""
    return [tuple(range(a, b + 1)) for a, b in _structure(check_tree(tree, d))[1]]


def _paired_modes(in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
    """``d``, the number of modes, which an HT-matrix needs the same on both sides."""
    if len(out_shape) != len(in_shape):
        raise ValueError(
            f"in_shape={tuple(in_shape)}, out_shape={tuple(out_shape)}: an HT-matrix needs the same "
            f"number of input and output modes")
    return len(in_shape)


# --- ranks and shapes --------------------------------------------------------------------------------

def ht_ranks(rank: int | Sequence[int], in_shape: Sequence[int], out_shape: Sequence[int],
             tree=None, clip: bool = True) -> list[int]:
    """Normalise ``rank`` to one rank per node (root last, ``1``) and clip useless ones.

    Args:
        rank: an int for every node but the root, the ``2d - 2`` ranks of those nodes, or all
            ``2d - 1`` with the root's ``1`` last (node order: see the module docstring).
        in_shape, out_shape: the ``d`` input and output modes.
        tree: the dimension tree (default: balanced).
        clip: lower ranks that cannot be useful (the default): a leaf's rank is at most
            ``m_k n_k``, and each of the three ranks of a transfer tensor at most the product
            of the other two (otherwise the frame has redundant directions); with the root's
            rank 1 its two children get the same rank.

    Returns:
        ``2d - 1`` ranks, the root's ``1`` last.
    """
    d = _paired_modes(in_shape, out_shape)
    tree = check_tree(tree, d)
    nodes = 2 * d - 1
    is_list = isinstance(rank, Sequence) and not isinstance(rank, str)
    if is_list and len(rank) == nodes:
        ranks = check_rank_list("rank", rank, nodes)
        if ranks[-1] != 1:
            raise ValueError(f"rank={ranks!r}: the last entry is the root's rank, expected 1")
    elif is_list and len(rank) != nodes - 1:
        raise ValueError(
            f"rank={list(rank)!r}: expected an int, {nodes - 1} ranks (one per node but the root: "
            f"leaves, then inner nodes in post-order) or {nodes} with the root's 1 last, for {d} "
            f"modes and tree={tree!r}")
    else:
        ranks = [*check_rank_list("rank", rank, nodes - 1), 1]
    if not clip:
        return ranks
    children, _ = _structure(tree)
    for k, (m, n) in enumerate(zip(in_shape, out_shape)):
        ranks[k] = min(ranks[k], m * n)
    changed = True
    while changed:
        changed = False
        for t, (left, right) in enumerate(children, start=d):
            for a, b, c in ((t, left, right), (left, t, right), (right, t, left)):
                if ranks[a] > ranks[b] * ranks[c]:
                    ranks[a], changed = ranks[b] * ranks[c], True
    return ranks


def ht_shapes(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int],
              tree=None) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """Shapes of the leaf frames ``(m_k, n_k, r_k)`` and the transfer tensors ``(r_t, r_l, r_r)``."""
    d = _paired_modes(in_shape, out_shape)
    tree = check_tree(tree, d)
    if len(ranks) != 2 * d - 1 or ranks[-1] != 1:
        raise ValueError(f"ranks={list(ranks)!r}: expected {2 * d - 1} entries, one per node, the root's 1 last")
    children, _ = _structure(tree)
    leaves = [(m, n, ranks[k]) for k, (m, n) in enumerate(zip(in_shape, out_shape))]
    transfers = [(ranks[t], ranks[left], ranks[right]) for t, (left, right) in enumerate(children, start=d)]
    return leaves, transfers


def ht_num_params(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int], tree=None) -> int:
    """``sum_k m_k n_k r_k + sum_{inner t} r_t r_l r_r`` (root: ``r_t = 1``)."""
    leaves, transfers = ht_shapes(in_shape, out_shape, ranks, tree)
    return sum(math.prod(s) for s in leaves) + sum(math.prod(s) for s in transfers)


def ht_init_std(ranks: Sequence[int], std: float) -> float:
    """Std of i.i.d. Gaussian frame and transfer entries giving reconstructed entries of std ``std``.

    An entry of ``W`` sums, over one index per tree edge (``prod_t r_t`` terms), products of
    ``d`` leaf entries and ``d - 1`` transfer entries, all independent and zero-mean; two terms
    differ in at least one factor, so they are uncorrelated and ``Var W = prod_t r_t s^(2(2d-1))``.
    """
    nodes = len(ranks)  # 2d - 1 factors in every term
    return (std ** 2 / math.prod(ranks)) ** (1.0 / (2 * nodes))


# --- the equivalent chain, and the contraction ------------------------------------------------------

def _placement_bonds(tree, ranks: tuple[int, ...], placement: tuple[int, ...]) -> tuple[list, list[int]]:
    """Edges across each bond of the chain, and the bond sizes, for one placement.

    ``placement[t - d]`` is the leaf whose core holds transfer tensor ``t``. Edge ``u`` (from
    node ``u`` to its parent) crosses bond ``k | k + 1`` when its two ends sit on cores on
    either side.
    """
    children, _ = _structure(tree)
    d = len(children) + 1
    pos = list(range(d)) + list(placement)
    parent = {c: t for t, pair in enumerate(children, start=d) for c in pair}
    bonds = []
    for k in range(d - 1):
        bonds.append([u for u in sorted(parent) if min(pos[u], pos[parent[u]]) <= k < max(pos[u], pos[parent[u]])])
    sizes = [1] + [math.prod(ranks[u] for u in edges) for edges in bonds] + [1]
    return bonds, sizes


@lru_cache(maxsize=256)
def _placement(tree, ms: tuple[int, ...], ns: tuple[int, ...], ranks: tuple[int, ...]) -> tuple[int, ...]:
    """Where each transfer tensor goes on the chain: the placement with the fewest multiply-adds
    of the planned sweep at :data:`plan.NOMINAL_BATCH` (ties: smaller bonds)."""
    children, spans = _structure(tree)
    # transfer t splits its modes between spans[left][1] and spans[right][0]: one of the two
    options = [(spans[left][1], spans[right][0]) for left, right in children]
    if len(options) > _MAX_SEARCHED_NODES:
        return tuple(o[0] for o in options)
    best = None
    for placement in itertools.product(*options):
        _, sizes = _placement_bonds(tree, ranks, placement)
        key = (plan.plan_chain(ms, ns, tuple(sizes), plan.NOMINAL_BATCH).macs_per_row, sum(sizes), placement)
        best = key if best is None or key < best else best
    return best[2]


def _chain_layout(tree, ms, ns, ranks):
    """The chain for these shapes: placement, edges across each bond, bond sizes."""
    placement = _placement(tree, tuple(ms), tuple(ns), tuple(ranks))
    bonds, sizes = _placement_bonds(tree, tuple(ranks), placement)
    return placement, bonds, sizes


def ht_chain(leaves: Sequence[Tensor], transfers: Sequence[Tensor], tree=None,
             placement: Sequence[int] | None = None) -> list[Tensor]:
    """The HT-matrix as TT-matrix cores ``(R_{k-1}, m_k, n_k, R_k)`` (weights only, differentiable).

    Core ``k`` is leaf ``k``'s frame, the transfer tensors placed on it, and an identity for
    every tree edge that passes it; the bond ``R_k`` is the product of the ranks of the edges
    between cores ``<= k`` and ``> k``. ``tt_to_dense(ht_chain(...)) == ht_to_dense(...)``.

    Args:
        leaves, transfers, tree: the HT-matrix.
        placement: the leaf whose core takes each transfer tensor (inner nodes in post-order),
            one of the two leaves beside the node's split; default: the one with the cheapest
            sweep for these shapes.
    """
    d = len(leaves)
    tree = check_tree(tree, d)
    if d == 1:
        return [leaves[0].reshape(1, *leaves[0].shape[:2], 1)]
    ms = tuple(f.shape[0] for f in leaves)
    ns = tuple(f.shape[1] for f in leaves)
    ranks = tuple(f.shape[2] for f in leaves) + tuple(b.shape[0] for b in transfers)
    children, _ = _structure(tree)
    if placement is None:
        placement, bonds, _ = _chain_layout(tree, ms, ns, ranks)
    else:
        placement = tuple(placement)
        _, spans = _structure(tree)
        allowed = [(spans[a][1], spans[b][0]) for a, b in children]
        if len(placement) != len(allowed) or any(p not in pair for p, pair in zip(placement, allowed)):
            raise ValueError(f"placement={list(placement)!r}: expected one leaf per inner node out of {allowed}")
        bonds, _ = _placement_bonds(tree, ranks, placement)
    cores = []
    for k in range(d):
        left = bonds[k - 1] if k > 0 else []
        right = bonds[k] if k < d - 1 else []
        operands, labels = [leaves[k]], [(("m",), ("n",), ("e", k))]
        for t, (a, b) in enumerate(children, start=d):
            if placement[t - d] == k:
                if t == 2 * d - 2:  # the root: its rank-1 index dropped
                    operands.append(transfers[t - d][0])
                    labels.append((("e", a), ("e", b)))
                else:
                    operands.append(transfers[t - d])
                    labels.append((("e", t), ("e", a), ("e", b)))
        out_left, out_right = [("e", u) for u in left], [("e", u) for u in right]
        for u in set(left) & set(right):  # an edge passing this core: an identity
            operands.append(torch.eye(ranks[u], dtype=leaves[k].dtype, device=leaves[k].device))
            labels.append((("e", u, "in"), ("e", u, "out")))
            out_left[left.index(u)] = ("e", u, "in")
            out_right[right.index(u)] = ("e", u, "out")
        output = (*out_left, ("m",), ("n",), *out_right)
        core = torch.einsum(plan.equation(labels, output), *operands)
        cores.append(core.reshape(math.prod(ranks[u] for u in left), ms[k], ns[k],
                                  math.prod(ranks[u] for u in right)))
    return cores


def _check_factors(leaves: Sequence[Tensor], transfers: Sequence[Tensor], tree) -> object:
    d = len(leaves)
    tree = check_tree(tree, d)
    if len(transfers) != d - 1:
        raise ValueError(f"len(transfers)={len(transfers)}: expected {d - 1} (one per inner node) for {d} leaves")
    return tree


def ht_contract(x: Tensor, leaves: Sequence[Tensor], transfers: Sequence[Tensor], tree=None) -> Tensor:
    """``x @ W`` for ``x`` of shape ``(..., I)``; returns ``(..., O)``. The dense ``W`` is never built.

    The frames and transfer tensors are turned into the equivalent chain (:func:`ht_chain`),
    which is swept right to left in the groups :func:`plan.plan_chain` chooses for this batch
    size: the last leaf's frame meets the input first, in one GEMM on the input's memory.
    """
    tree = _check_factors(leaves, transfers, tree)
    cores = ht_chain(leaves, transfers, tree)
    in_shape = tuple(c.shape[1] for c in cores)
    out_shape = tuple(c.shape[2] for c in cores)
    bonds = tuple(c.shape[0] for c in cores) + (1,)
    batch_shape = x.shape[:-1]
    xs = x.reshape(-1, math.prod(in_shape))  # (B, I)
    y = plan.chain_contract(xs, cores, plan.plan_chain(in_shape, out_shape, bonds, xs.shape[0]))  # (B, 1, O)
    return y.reshape(*batch_shape, math.prod(out_shape))


def ht_macs(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int], tree=None) -> int:
    """Multiply-adds per input row of the planned sweep at :data:`plan.NOMINAL_BATCH`
    (building the chain from the weights is per call, not per row, and left out)."""
    ht_shapes(in_shape, out_shape, ranks, tree)  # validates
    tree = check_tree(tree, len(in_shape))
    if len(in_shape) == 1:
        return in_shape[0] * out_shape[0]
    _, _, sizes = _chain_layout(tree, in_shape, out_shape, ranks)
    return plan.plan_chain(tuple(in_shape), tuple(out_shape), tuple(sizes), plan.NOMINAL_BATCH).macs_per_row


# --- dense, norm, decomposition ---------------------------------------------------------------------

def _frames(leaves: Sequence[Tensor], transfers: Sequence[Tensor], tree) -> list[Tensor]:
    """Every node's frame ``(prod of its modes' m n, r_t)``, in node order."""
    children, _ = _structure(tree)
    frames = [f.reshape(-1, f.shape[-1]) for f in leaves]
    for (left, right), b in zip(children, transfers):
        u = torch.einsum("ib,jc,abc->ija", frames[left], frames[right], b)
        frames.append(u.reshape(-1, b.shape[0]))
    return frames


def ht_to_dense(leaves: Sequence[Tensor], transfers: Sequence[Tensor], tree=None) -> Tensor:
    """The dense matrix ``(I, O)``, built from the tree (frames bottom-up), not from the chain."""
    tree = _check_factors(leaves, transfers, tree)
    in_shape = [f.shape[0] for f in leaves]
    out_shape = [f.shape[1] for f in leaves]
    root = _frames(leaves, transfers, tree)[-1]  # (m_1 n_1 ... m_d n_d, 1)
    return deinterleave(root.reshape([m * n for m, n in zip(in_shape, out_shape)]), in_shape, out_shape)


def ht_norm(leaves: Sequence[Tensor], transfers: Sequence[Tensor], tree=None) -> Tensor:
    """Frobenius norm of the HT-matrix, without building it (Gram matrices of the frames, r x r)."""
    tree = _check_factors(leaves, transfers, tree)
    children, _ = _structure(tree)
    grams = [torch.einsum("mnr,mns->rs", f, f) for f in leaves]
    for (left, right), b in zip(children, transfers):
        # G_t = sum B_t[a, b, c] B_t[a', b', c'] G_l[b, b'] G_r[c, c']
        grams.append(torch.einsum("abc,bd,ce,fde->af", b, grams[left], grams[right], b))
    return grams[-1].reshape(()).clamp_min(0).sqrt()


def _leading_basis(a: Tensor, rank: int) -> Tensor:
    """The ``rank`` leading left singular vectors of ``a``, zero-padded to ``rank`` columns."""
    u = torch.linalg.svd(a, full_matrices=False)[0][:, :rank]
    if u.shape[1] < rank:
        u = torch.cat([u, u.new_zeros(u.shape[0], rank - u.shape[1])], dim=1)
    return u


def ht_svd(matrix: Tensor, in_shape: Sequence[int], out_shape: Sequence[int],
           rank: int | Sequence[int], tree=None) -> tuple[list[Tensor], list[Tensor]]:
    """HT-SVD (Grasedyck 2010, root-to-leaves truncation) of a dense ``(I, O)`` matrix.

    Every node but the root gets the ``r_t`` leading left singular vectors of the
    matricisation of ``W`` (its modes as rows): the leaves keep them as frames, and each
    transfer tensor is the projection of its node's basis (the root: of ``W``) onto the
    Kronecker product of its children's bases. Exact when ``W`` has HT ranks ``<= rank``
    (then every column space is inside that product); otherwise quasi-optimal, the error at
    most ``sqrt(2d - 3)`` times the best HT approximation of those ranks.

    Returns:
        ``(leaves [(m_k, n_k, r_k)], transfers [(r_t, r_l, r_r)])`` with the clipped ranks of
        :func:`ht_ranks` (bases zero-padded where a matricisation has fewer singular values).
    """
    in_shape = check_shape("in_shape", in_shape)
    out_shape = check_shape("out_shape", out_shape, None)
    expected = (math.prod(in_shape), math.prod(out_shape))
    if matrix.ndim != 2 or tuple(matrix.shape) != expected:
        raise ValueError(
            f"matrix.shape={tuple(matrix.shape)}: expected {expected} for in_shape={in_shape}, "
            f"out_shape={out_shape}")
    d = len(in_shape)
    tree = check_tree(tree, d)
    ranks = ht_ranks(rank, in_shape, out_shape, tree)
    children, spans = _structure(tree)
    dims = [m * n for m, n in zip(in_shape, out_shape)]
    t_full = interleave(matrix, in_shape, out_shape)  # (m_1 n_1, ..., m_d n_d)
    bases = []
    for t, (a, b) in enumerate(spans[:-1]):
        before, inside = math.prod(dims[:a]), math.prod(dims[a:b + 1])
        unfolding = t_full.reshape(before, inside, -1).transpose(0, 1).reshape(inside, -1)
        bases.append(_leading_basis(unfolding, ranks[t]))
    bases.append(t_full.reshape(-1, 1))  # the root's frame is W itself
    leaves = [bases[k].reshape(m, n, ranks[k]).contiguous() for k, (m, n) in enumerate(zip(in_shape, out_shape))]
    transfers = []
    for t, (left, right) in enumerate(children, start=d):
        u = bases[t].reshape(bases[left].shape[0], bases[right].shape[0], -1)
        transfers.append(torch.einsum("ija,ib,jc->abc", u, bases[left], bases[right]).contiguous())
    return leaves, transfers
