"""Shape helpers: balanced factorisation, shape suggestions, validation."""
from __future__ import annotations

import math

import pytest

from tensorrnn import papers
from tensorrnn.tensor import factorize, suggest_shapes
from tensorrnn.tensor.shapes import check_shape, clip_ring_ranks


def test_factorize_reproduces_the_papers_input_shapes():
    assert factorize(57_600, 4, first=8, last=18) == papers.UCF11_IN_SHAPE
    assert factorize(70_200, 4, first=10, last=30) == papers.HOLLYWOOD2_IN_SHAPE
    assert factorize(57_600, 4, first=4, last=36) == papers.YOUTUBE_IN_SHAPE
    assert factorize(256, 4) == papers.UCF11_HIDDEN_SHAPE


@pytest.mark.parametrize("n, d, expected", [
    (57_600, 4, (16, 16, 15, 15)),  # 15*15*16*16: the most balanced split
    (1024, 2, (32, 32)),
    (81, 4, (3, 3, 3, 3)),
    (12, 2, (4, 3)),
    (7, 1, (7,)),
])
def test_factorize_is_balanced(n, d, expected):
    assert factorize(n, d) == expected
    assert factorize(n, d, order="ascending") == tuple(sorted(expected))


def test_factorize_balance_is_optimal_against_brute_force():
    for n in (360, 720, 1000, 4096):
        best = factorize(n, 3)
        spread = lambda f: max(f) / min(f)
        all3 = [(a, b, n // (a * b)) for a in range(2, n) for b in range(2, n)
                if n % (a * b) == 0 and n // (a * b) >= 2]
        assert math.prod(best) == n
        assert spread(best) <= min(spread(f) for f in all3) + 1e-9


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=97, d=2), r"n=97, d=2.*prime"),
    (dict(n=8, d=4), r"n=8, d=4.*8 cannot be written as a product of 4 factors >= 2"),
    (dict(n=0, d=2), r"n=0"),
    (dict(n=12, d=0), r"d=0"),
    (dict(n=12, d=2, first=5), r"first=5.*divisor of 12"),
    (dict(n=12, d=2, order="random"), r"order='random'"),
    (dict(n=12, d=1, first=3, last=4), r"cannot pin 2 modes with d=1"),
])
def test_factorize_refuses_impossible_requests(kwargs, match):
    with pytest.raises(ValueError, match=match):
        factorize(**kwargs)


def test_suggest_shapes_packs_gates_into_first_output_mode():
    assert suggest_shapes(57_600, 1024, 4, gates=4, in_shape=papers.UCF11_IN_SHAPE) == (
        papers.UCF11_IN_SHAPE, (16, 4, 4, 4))
    assert suggest_shapes(57_600, 768, 4, gates=3) == ((15, 15, 16, 16), (12, 4, 4, 4))
    assert suggest_shapes(256, 256, 2) == ((16, 16), (16, 16))


@pytest.mark.parametrize("kwargs, match", [
    (dict(in_features=100, out_features=10, d=2, gates=4), r"out_features=10.*multiple of gates=4"),
    (dict(in_features=100, out_features=16, d=2, in_shape=(10, 11)), r"in_shape=\(10, 11\).*110, expected 100"),
    (dict(in_features=100, out_features=16, d=3, in_shape=(10, 10)), r"expected 3 modes"),
])
def test_suggest_shapes_refuses_bad_requests(kwargs, match):
    with pytest.raises(ValueError, match=match):
        suggest_shapes(**kwargs)


def test_check_shape_names_argument_and_expected_product():
    assert check_shape("in_shape", [2, 3], 6) == (2, 3)
    with pytest.raises(ValueError, match=r"in_shape=\(2, 3\): its product is 6, expected 7"):
        check_shape("in_shape", (2, 3), 7)
    with pytest.raises(ValueError, match=r"out_shape=\(\).*non-empty"):
        check_shape("out_shape", ())


def test_clip_ring_ranks():
    # TT chain: r_k <= min(prod left, prod right) of the mode sizes
    assert clip_ring_ranks([1, 50, 50, 1], [4, 6, 3], closed=False) == [1, 4, 3, 1]
    # a ring keeps ranks that every core can use
    assert clip_ring_ranks([5, 5, 5], [2, 3, 2], closed=True) == [5, 5, 5]
    assert clip_ring_ranks([1, 9, 1], [2, 3, 2], closed=True) == [1, 2, 1]
