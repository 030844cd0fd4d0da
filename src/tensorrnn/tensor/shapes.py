"""Shapes and ranks: validation, balanced factorisation of an integer, shape suggestions.

Every check raises ``ValueError`` naming the argument, the value and what was expected, so a
wrong configuration fails where it is written rather than deep inside a contraction.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

__all__ = [
    "check_shape",
    "check_rank_list",
    "check_positive_int",
    "check_nonnegative_int",
    "factorize",
    "suggest_shapes",
    "clip_ring_ranks",
]


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r}: expected a positive integer")
    return int(value)


def check_nonnegative_int(name: str, value: object) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` if it is not an integer ``>= 0``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}={value!r}: expected an int >= 0")
    return int(value)


def check_shape(name: str, shape: object, features: int | None = None) -> tuple[int, ...]:
    """Validate a mode shape (non-empty sequence of positive ints) and return it as a tuple.

    Args:
        name: argument name used in the error message.
        shape: the shape to check.
        features: if given, the product the shape must have.
    """
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Sequence) or isinstance(shape, str) or len(shape) == 0:
        raise ValueError(f"{name}={shape!r}: expected a non-empty sequence of positive integers")
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"{name}={tuple(shape)!r}: expected every mode to be a positive integer")
    shape = tuple(int(s) for s in shape)
    if features is not None and math.prod(shape) != features:
        raise ValueError(
            f"{name}={shape!r}: its product is {math.prod(shape)}, expected {features}")
    return shape


def check_rank_list(name: str, rank: object, length: int) -> list[int]:
    """Turn an int or a sequence of ``length`` positive ints into a list; raise otherwise."""
    if isinstance(rank, int) and not isinstance(rank, bool):
        check_positive_int(name, rank)
        return [rank] * length
    if not isinstance(rank, Sequence) or isinstance(rank, str):
        raise ValueError(f"{name}={rank!r}: expected a positive int or a list of {length} of them")
    if len(rank) != length:
        raise ValueError(f"{name}={list(rank)!r}: expected {length} entries, got {len(rank)}")
    for r in rank:
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"{name}={list(rank)!r}: expected positive integers, got {r!r}")
    return [int(r) for r in rank]


def clip_ring_ranks(ranks: Sequence[int], dims: Sequence[int], closed: bool) -> list[int]:
    """Clip ranks that cannot be useful, for a chain (``closed=False``) or a ring of cores.

    Core ``k`` has shape ``(ranks[k], dims[k], ranks[k+1])`` (indices mod ``len(dims)`` for a
    ring; a chain has ``len(dims) + 1`` ranks). A bond larger than the product of the other
    two sides of a core carries redundant directions (its core unfolding has lower rank), so
    it is lowered until ``ranks[k+1] <= ranks[k] * dims[k]`` and
    ``ranks[k] <= dims[k] * ranks[k+1]`` hold for every core. For a TT chain with
    ``r_0 = r_d = 1`` this gives the usual bound ``r_k <= min(prod left, prod right)``.
    """
    ranks = list(ranks)
    n = len(dims)
    changed = True
    while changed:
        changed = False
        for k in range(n):
            left, right = k, (k + 1) % n if closed else k + 1
            if ranks[right] > ranks[left] * dims[k]:
                ranks[right] = ranks[left] * dims[k]
                changed = True
            if ranks[left] > dims[k] * ranks[right]:
                ranks[left] = dims[k] * ranks[right]
                changed = True
    return ranks


@lru_cache(maxsize=256)
def _factorizations(n: int, d: int, low: int) -> tuple[tuple[int, ...], ...]:
    """All non-decreasing tuples of ``d`` factors >= ``low`` whose product is ``n``."""
    if d == 1:
        return ((n,),) if n >= low else ()
    out = []
    f = low
    while f ** d <= n:
        if n % f == 0:
            out += [(f, *rest) for rest in _factorizations(n // f, d - 1, f)]
        f += 1
    return tuple(out)


def _spread(factors: Sequence[int]) -> float:
    """Imbalance of a factorisation: the variance of the log-factors (0 when all equal)."""
    logs = [math.log(f) for f in factors]
    mean = sum(logs) / len(logs)
    return sum((v - mean) ** 2 for v in logs) / len(logs)


def factorize(n: int, d: int, *, min_factor: int = 2, order: str = "descending",
              first: int | None = None, last: int | None = None) -> tuple[int, ...]:
    """Split ``n`` into ``d`` integer factors that are as balanced as possible.

    Among all ways to write ``n`` as a product of ``d`` factors, each ``>= min_factor``, the
    one with the smallest spread of ``log(factor)`` is chosen (ties: the lexicographically
    smallest sorted tuple, so the result is deterministic). ``first`` and ``last`` pin the end
    modes, which is how the papers' shapes are reproduced (they keep a small mode first and
    balance the rest).

    Args:
        n: the integer to factorise.
        d: the number of factors.
        min_factor: the smallest allowed factor for the balanced (unpinned) modes.
        order: ``"descending"`` or ``"ascending"`` order of the balanced modes.
        first: if given, the first factor (must divide ``n``).
        last: if given, the last factor (must divide what ``first`` leaves).

    Returns:
        A tuple of ``d`` ints whose product is ``n``.

    Raises:
        ValueError: if no factorisation exists (e.g. a prime ``n`` with ``d > 1`` and
            ``min_factor >= 2``) or a pinned mode does not divide ``n``, naming the arguments.

    Examples::

        >>> factorize(256, 4)
        (4, 4, 4, 4)
        >>> factorize(57600, 4)
        (16, 16, 15, 15)
        >>> factorize(57600, 4, first=8, last=18)  # TT-RNN's UCF11 input shape
        (8, 20, 20, 18)
    """
    n = check_positive_int("n", n)
    d = check_positive_int("d", d)
    min_factor = check_positive_int("min_factor", min_factor)
    if order not in ("descending", "ascending"):
        raise ValueError(f"order={order!r}: expected 'descending' or 'ascending'")
    pinned = [p for p in (first, last) if p is not None]
    if len(pinned) > d:
        raise ValueError(f"first={first}, last={last}: cannot pin {len(pinned)} modes with d={d}")
    rest = n
    for name, value in (("first", first), ("last", last)):
        if value is not None:
            value = check_positive_int(name, value)
            if rest % value:
                raise ValueError(f"{name}={value}: expected a divisor of {rest} (n={n}, d={d})")
            rest //= value
    free = d - len(pinned)
    if free == 0:
        if rest != 1:
            raise ValueError(f"first={first}, last={last}: with d={d} their product must be n={n}")
        return tuple(pinned)
    candidates = _factorizations(rest, free, min_factor)
    if not candidates:
        raise ValueError(
            f"n={n}, d={d}: {rest} cannot be written as a product of {free} factors >= {min_factor}"
            + (" (it is prime)" if free > 1 and _is_prime(rest) else ""))
    best = min(candidates, key=lambda f: (_spread(f), f))
    middle = tuple(sorted(best, reverse=order == "descending"))
    return (*((first,) if first is not None else ()), *middle, *((last,) if last is not None else ()))


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % p for p in range(2, math.isqrt(n) + 1))


def suggest_shapes(in_features: int, out_features: int, d: int, *, gates: int = 1,
                   in_shape: Sequence[int] | None = None, min_factor: int = 2,
                   ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Suggest ``(in_shape, out_shape)`` with ``d`` modes each for a factorised layer.

    The output modes are balanced factors of ``out_features // gates`` with the gate factor
    multiplied into the first mode (the papers' gate packing). The input modes are balanced
    factors of ``in_features`` in ascending order, unless ``in_shape`` is given (then it is
    validated and returned, so a paper's shape can be requested exactly).

    Args:
        in_features: size of the input.
        out_features: size of the output, including all gates.
        d: number of modes on each side.
        gates: number of gates packed into the first output mode (1, 3 for GRU, 4 for LSTM).
        in_shape: an explicit input shape to use (checked against ``in_features`` and ``d``).
        min_factor: the smallest allowed mode size.

    Examples::

        >>> suggest_shapes(57600, 1024, 4, gates=4, in_shape=(8, 20, 20, 18))
        ((8, 20, 20, 18), (16, 4, 4, 4))
        >>> suggest_shapes(256, 256, 2)
        ((16, 16), (16, 16))
    """
    in_features = check_positive_int("in_features", in_features)
    out_features = check_positive_int("out_features", out_features)
    d = check_positive_int("d", d)
    gates = check_positive_int("gates", gates)
    if out_features % gates:
        raise ValueError(f"out_features={out_features}: expected a multiple of gates={gates}")
    if in_shape is not None:
        in_shape = check_shape("in_shape", in_shape, in_features)
        if len(in_shape) != d:
            raise ValueError(f"in_shape={in_shape}: expected {d} modes (d={d})")
    else:
        in_shape = factorize(in_features, d, min_factor=min_factor, order="ascending")
    hidden = factorize(out_features // gates, d, min_factor=min_factor, order="descending")
    out_shape = (hidden[0] * gates, *hidden[1:])
    return in_shape, out_shape
