"""Train/test splits: the papers' protocols, group-aware folds and the official splits.

All functions return index arrays into a dataset's clip list, which the datasets keep sorted
by relative path (the "sorted clip list" of the TT-RNN protocol).

- ``"tt_rnn"`` (Yang et al.): ``np.random.seed(11111986); np.random.choice(N, N, False)``
  permutes the sorted clips, ``np.array_split`` cuts the permutation into 5 contiguous folds;
  fold f is the test set. Reproduced exactly with ``np.random.RandomState(seed)``.
- ``"bt_rnn"`` (Ye et al.): one random 80/20 split (1,280 / 320 clips on UCF11).
- ``"group_kfold"``: the sorted group ids cut into ``num_folds`` contiguous runs (UCF11's 25
  groups, 5 folds: groups 1-5, 6-10, ...); no group is in both train and test.
- ``"logo"``: leave one group out (UCF11: 25 folds).
- ``"official"``: the dataset's official split (HMDB51, UCF101, Hollywood2, KTH built with
  ``subset="all"``; KTH's validation persons have the role ``"val"``, in neither part).

Neither paper protocol respects UCF11's groups, so the same actor and background can be in
train and test; ``"logo"`` is the honest protocol of the action-recognition literature.
"""
from __future__ import annotations

import numpy as np

from tensorrnn import papers

PROTOCOLS = ("tt_rnn", "bt_rnn", "group_kfold", "logo", "official")


def _check_count(name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r}: expected an integer >= {minimum}")
    return int(value)


def tt_rnn_folds(num_clips: int, seed: int = papers.TT_RNN_SPLIT_SEED,
                 num_folds: int = papers.TT_RNN_NUM_FOLDS) -> list[np.ndarray]:
    """The TT-RNN cross-validation folds: ``num_folds`` index arrays (the test sets).

    Equivalent to the original ``np.random.seed(seed); perm = np.random.choice(N, N, False);
    np.array_split(perm, num_folds)`` without touching numpy's global state.

    Examples:
        >>> [f.tolist() for f in tt_rnn_folds(5, num_folds=5)] == [[i] for i in
        ...     np.random.RandomState(11111986).choice(5, 5, False).tolist()]
        True
    """
    _check_count("num_clips", num_clips)
    _check_count("num_folds", num_folds)
    if num_folds > num_clips:
        raise ValueError(f"num_folds={num_folds}: expected at most num_clips={num_clips}")
    perm = np.random.RandomState(seed).choice(num_clips, num_clips, replace=False)
    return [fold.astype(np.int64) for fold in np.array_split(perm, num_folds)]


def bt_rnn_split(num_clips: int, seed: int = 0,
                 train_fraction: float = papers.BT_RNN_TRAIN_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """One random train/test split with ``round(train_fraction * N)`` training clips.

    The BT-RNN code's seed is not published; ``seed`` makes the split reproducible here.
    """
    _check_count("num_clips", num_clips, 2)
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction={train_fraction!r}: expected a share in (0, 1)")
    perm = np.random.default_rng(seed).permutation(num_clips)
    cut = min(max(int(round(train_fraction * num_clips)), 1), num_clips - 1)
    return np.sort(perm[:cut]), np.sort(perm[cut:])


def _groups(groups) -> np.ndarray:
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.size == 0:
        raise ValueError(f"groups of shape {groups.shape}: expected one group id per clip")
    if np.issubdtype(groups.dtype, np.integer) and (groups < 0).any():
        raise ValueError("groups contain -1 (clips without a group): this dataset has no groups; "
                         "use protocol='tt_rnn' or 'bt_rnn'")
    return groups


def group_kfold(groups, num_folds: int = 5, fold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``fold`` of a group k-fold: the sorted group ids in ``num_folds`` contiguous runs.

    Returns:
        ``(train, test)`` index arrays; no group has clips in both.
    """
    groups = _groups(groups)
    unique = np.unique(groups)
    _check_count("num_folds", num_folds, 2)
    if num_folds > len(unique):
        raise ValueError(f"num_folds={num_folds}: the clips have {len(unique)} group(s), fewer than the folds; expected "
                         f"num_folds <= {len(unique)}" + (f" (num_folds={len(unique)} is leave-one-group-out, "
                                                          "split 'logo')" if len(unique) >= 2 else
                                                          ", or a clip-level split ('tt_rnn' or 'bt_rnn')"))
    if not 0 <= fold < num_folds:
        raise ValueError(f"fold={fold!r}: expected 0..{num_folds - 1}")
    test_groups = np.array_split(unique, num_folds)[fold]
    test = np.isin(groups, test_groups)
    return np.flatnonzero(~test), np.flatnonzero(test)


def leave_one_group_out(groups, fold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``fold``: the clips of the ``fold``-th smallest group id are the test set."""
    groups = _groups(groups)
    unique = np.unique(groups)
    if not 0 <= fold < len(unique):
        raise ValueError(f"fold={fold!r}: expected 0..{len(unique) - 1} (one fold per group)")
    test = groups == unique[fold]
    return np.flatnonzero(~test), np.flatnonzero(test)


def official_split(roles) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` from per-clip roles ``"train" | "test" | "unused"``."""
    roles = np.asarray(roles)
    train, test = np.flatnonzero(roles == "train"), np.flatnonzero(roles == "test")
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"official split: {len(train)} train and {len(test)} test clips; expected both "
                         f"(build the dataset with subset='all')")
    return train, test


def num_splits(dataset, protocol: str = "tt_rnn", num_folds: int | None = None) -> int:
    """How many folds ``protocol`` has for ``dataset`` (for cross-validation loops)."""
    _check_protocol(protocol)
    if protocol == "tt_rnn":
        return num_folds or papers.TT_RNN_NUM_FOLDS
    if protocol == "group_kfold":
        return num_folds or 5
    if protocol == "logo":
        return len(np.unique(_groups(dataset.groups)))
    return 1


def _check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol={protocol!r}: expected one of {', '.join(map(repr, PROTOCOLS))}")


def make_split(dataset, protocol: str = "tt_rnn", fold: int = 0, num_folds: int | None = None,
               seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(train_indices, test_indices)`` of ``dataset`` under ``protocol``.

    Args:
        dataset: a :class:`~tensorrnn.data.datasets.VideoClipDataset` (``len``, ``groups``,
            ``official``) or, for ``"tt_rnn"`` / ``"bt_rnn"``, a clip count.
        protocol: ``"tt_rnn"``, ``"bt_rnn"``, ``"group_kfold"``, ``"logo"`` or ``"official"``.
        fold: which fold is the test set (``"tt_rnn"``, ``"group_kfold"``, ``"logo"``).
        num_folds: folds of ``"tt_rnn"`` (default 5) and ``"group_kfold"`` (default 5).
        seed: ``"tt_rnn"``: the permutation seed (default 11111986); ``"bt_rnn"``: the
            split's seed (default 0).

    Returns:
        Two sorted int64 index arrays, disjoint, together covering the used clips.

    Examples:
        >>> train, test = make_split(1600, "bt_rnn")
        >>> len(train), len(test)
        (1280, 320)
    """
    _check_protocol(protocol)
    n = dataset if isinstance(dataset, (int, np.integer)) else len(dataset)
    if protocol == "tt_rnn":
        folds = tt_rnn_folds(n, papers.TT_RNN_SPLIT_SEED if seed is None else seed,
                             num_folds or papers.TT_RNN_NUM_FOLDS)
        if not 0 <= fold < len(folds):
            raise ValueError(f"fold={fold!r}: expected 0..{len(folds) - 1}")
        test = np.sort(folds[fold])
        return np.setdiff1d(np.arange(n), test), test
    if protocol == "bt_rnn":
        return bt_rnn_split(n, 0 if seed is None else seed)
    if isinstance(dataset, (int, np.integer)):
        raise ValueError(f"protocol={protocol!r} needs a dataset (groups or official roles), not a clip count")
    if protocol == "group_kfold":
        return group_kfold(dataset.groups, num_folds or 5, fold)
    if protocol == "logo":
        return leave_one_group_out(dataset.groups, fold)
    if getattr(dataset, "official", None) is None:
        raise ValueError(f"protocol='official': {type(dataset).__name__} has no official split "
                         f"(HMDB51, UCF101, Hollywood2 and KTH built with subset='all' have)")
    return official_split(dataset.official)
