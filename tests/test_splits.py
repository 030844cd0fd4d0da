"""Splits: the TT-RNN folds exactly as the original code, BT-RNN 80/20, group-aware folds."""
from __future__ import annotations

import numpy as np
import pytest

from tensorrnn import papers
from tensorrnn.data import UCF11, make_split, num_splits
from tensorrnn.data.splits import bt_rnn_split, group_kfold, leave_one_group_out, official_split, tt_rnn_folds


def legacy_tt_rnn_folds(n: int, seed: int, folds: int) -> list[np.ndarray]:
    """The original code, verbatim: numpy's global seed, then choice without replacement."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        perm = np.random.choice(n, n, False)
    finally:
        np.random.set_state(state)
    return np.array_split(perm, folds)


@pytest.mark.parametrize("n", [papers.UCF11_NUM_CLIPS, 23, 5])
def test_tt_rnn_folds_equal_the_original_global_seed_call(n):
    ours = tt_rnn_folds(n)
    theirs = legacy_tt_rnn_folds(n, 11111986, 5)
    assert len(ours) == 5
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    assert sorted(np.concatenate(ours).tolist()) == list(range(n))  # a partition
    assert [len(f) for f in ours] == [len(f) for f in np.array_split(np.arange(n), 5)]


def test_tt_rnn_fold_assignment_of_a_known_clip_list():
    # The protocol permutes the SORTED clip list; the fold of each clip follows.
    names = sorted(f"{c}/v_{c}_{g:02d}_01.mpg" for c in ("biking", "diving", "swing") for g in (1, 2, 3, 4))
    perm = legacy_tt_rnn_folds(len(names), papers.TT_RNN_SPLIT_SEED, papers.TT_RNN_NUM_FOLDS)
    expected = {names[i]: k for k, fold in enumerate(perm) for i in fold}
    for k in range(5):
        train, test = make_split(len(names), "tt_rnn", fold=k)
        assert {names[i] for i in test} == {n for n, f in expected.items() if f == k}
        assert np.intersect1d(train, test).size == 0 and len(train) + len(test) == len(names)


def test_tt_rnn_does_not_touch_global_state():
    np.random.seed(5)
    before = np.random.rand()
    np.random.seed(5)
    tt_rnn_folds(100)
    assert np.random.rand() == before


def test_bt_rnn_80_20():
    train, test = bt_rnn_split(papers.UCF11_NUM_CLIPS)
    assert (len(train), len(test)) == (1280, 320)
    assert np.union1d(train, test).tolist() == list(range(1600))
    again = bt_rnn_split(1600)
    assert (again[1] == test).all() and not (bt_rnn_split(1600, seed=1)[1] == test).all()


def test_group_kfold_and_logo_are_group_disjoint():
    groups = np.tile(np.arange(1, 26), 11)  # UCF11: 25 groups in each of 11 classes
    for fold in range(5):
        train, test = group_kfold(groups, 5, fold)
        assert set(groups[test]) == set(range(5 * fold + 1, 5 * fold + 6))  # contiguous runs
        assert not set(groups[train]) & set(groups[test])
        assert len(train) + len(test) == len(groups)
    seen = set()
    for fold in range(25):
        train, test = leave_one_group_out(groups, fold)
        assert len(set(groups[test])) == 1 and not set(groups[train]) & set(groups[test])
        seen |= set(groups[test])
    assert seen == set(range(1, 26))


def test_make_split_on_a_dataset(ucf11_root):
    ds = UCF11(ucf11_root, size=(16, 12), progress=False)
    assert num_splits(ds, "logo") == 3 and num_splits(ds, "tt_rnn") == 5 and num_splits(ds, "bt_rnn") == 1
    for fold in range(3):
        train, test = make_split(ds, "logo", fold=fold)
        assert set(ds.groups[test]) == {fold + 1} and fold + 1 not in set(ds.groups[train])
    train, test = make_split(ds, "group_kfold", fold=1, num_folds=3)
    assert set(ds.groups[test]) == {2}
    with pytest.raises(ValueError, match="has no official split"):
        make_split(ds, "official")


def test_official_split_from_roles():
    train, test = official_split(["train", "test", "unused", "train"])
    assert train.tolist() == [0, 3] and test.tolist() == [1]
    with pytest.raises(ValueError, match="subset='all'"):
        official_split(["train", "train"])


@pytest.mark.parametrize("call, match", [
    (lambda: make_split(10, "kfold"), "protocol='kfold'"),
    (lambda: make_split(10, "tt_rnn", fold=5), "fold=5: expected 0..4"),
    (lambda: make_split(10, "logo"), "needs a dataset"),
    (lambda: tt_rnn_folds(3, num_folds=5), "num_folds=5"),
    (lambda: group_kfold([1, 2, 3], 4), "num_folds=4"),
    (lambda: leave_one_group_out([-1, -1]), "no groups"),
    (lambda: bt_rnn_split(10, train_fraction=1.0), "train_fraction=1.0"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
