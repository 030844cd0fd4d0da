"""Train/test splits: the papers' protocols, group-aware folds and the official splits.

All functions return index arrays into a dataset's clip list, which the datasets keep sorted
by relative path (the "sorted clip list" of the TT-RNN protocol).

- ``"tt_rnn"`` (Yang et al.): ``np.random.seed(11111986); np.random.choice(N, N, False)``
  permutes the sorted clips, ``np.array_split`` cuts the permutation into 5 contiguous folds;
  fold f is the test set. Reproduced exactly with ``np.random.RandomState(seed)``.
- ``"bt_rnn"`` (Ye et al.): one random 80/20 split (1,280 / 320 clips on UCF11).
- ``"group_kfold"``: no group is in both train and test, and every class is in every fold
  where the groups allow it. Where contiguous runs of the sorted group ids already give every
  fold's train and test part every class (groups that hold every class: UCF11's 25 groups, 5
  folds: groups 1-5, 6-10, ...) the folds are those runs; otherwise (groups of one class each:
  the person or session that filmed one action) the groups are dealt to the folds so that each
  fold's class proportions stay close to the whole's (the idea of scikit-learn's
  ``StratifiedGroupKFold``, deterministic).
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


def class_counts(targets, num_classes: int | None = None) -> np.ndarray:
    """``(N, C)`` clips per class: one-hot rows of integer targets, or multi-hot rows as given."""
    targets = np.asarray(targets)
    if targets.ndim == 2:
        return (targets > 0).astype(np.int64)
    targets = targets.astype(np.int64)
    size = max(int(targets.max(initial=-1)) + 1, num_classes or 0)
    return np.eye(size, dtype=np.int64)[targets] if targets.size else np.zeros((0, size), np.int64)


def _group_counts(groups: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted unique group ids and their ``(G, C)`` clips per class."""
    unique, inverse = np.unique(groups, return_inverse=True)
    per_group = np.zeros((len(unique), counts.shape[1]), np.int64)
    np.add.at(per_group, inverse, counts)
    return unique, per_group


def _covers(per_group: np.ndarray, fold_of: np.ndarray, num_folds: int) -> bool:
    """Whether every fold's train and test part hold every class that has clips."""
    present = per_group.sum(0) > 0
    for k in range(num_folds):
        test = per_group[fold_of == k].sum(0) > 0
        train = per_group[fold_of != k].sum(0) > 0
        if (present & ~test).any() or (present & ~train).any():
            return False
    return True


def stratified_group_folds(per_group: np.ndarray, num_folds: int) -> np.ndarray:
    """The fold of each group (rows of ``per_group``, ``(G, C)`` clips per class), dealt so
    that each fold's share of every class stays close to ``1 / num_folds``.

    Groups whose clips are concentrated in few classes go first (then the larger, then in
    their order); each goes to the fold where the spread of the per-class shares over the
    folds is smallest, ties to the fold with the fewest clips. Deterministic.
    """
    total = np.maximum(per_group.sum(0), 1).astype(np.float64)  # (C,)
    spread = per_group.std(axis=1) if per_group.shape[1] > 1 else np.zeros(len(per_group))
    order = np.lexsort((np.arange(len(per_group)), -per_group.sum(1), -spread))
    folds = np.zeros((num_folds, per_group.shape[1]), np.float64)
    fold_of = np.zeros(len(per_group), np.int64)
    for g in order:
        trial = folds[None] + np.eye(num_folds)[:, :, None] * per_group[g][None, None]  # (K, K, C)
        cost = (trial / total).std(axis=1).mean(axis=1)  # (K,): mean over classes of the spread
        sizes = folds.sum(1)
        best = min(range(num_folds), key=lambda k: (round(float(cost[k]), 12), sizes[k], k))
        folds[best] += per_group[g]
        fold_of[g] = best
    return fold_of


def group_kfold(groups, num_folds: int = 5, fold: int = 0, targets=None) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``fold`` of a group k-fold: no group has clips in both train and test.

    Without ``targets``, or where contiguous runs of the sorted group ids give every fold's
    train and test part every class, the folds are those runs (today's UCF11 folds: groups
    1-5, 6-10, ...); otherwise :func:`stratified_group_folds` deals the groups.

    Args:
        groups: ``(N,)`` group id per clip.
        num_folds: number of folds (at most the number of groups).
        fold: which fold is the test set.
        targets: ``(N,)`` class indices or ``(N, C)`` multi-hot labels, for stratifying.

    Returns:
        ``(train, test)`` index arrays; no group has clips in both.

    Examples:
        >>> groups = np.repeat(np.arange(6), 2)          # 6 groups of one class each
        >>> targets = np.repeat([0, 0, 0, 1, 1, 1], 2)    # contiguous runs would test one class
        >>> train, test = group_kfold(groups, 3, 0, targets)
        >>> sorted(set(targets[test].tolist())), sorted(set(targets[train].tolist()))
        ([0, 1], [0, 1])
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
    fold_of = np.concatenate([np.full(len(run), k) for k, run in enumerate(np.array_split(unique, num_folds))])
    if targets is not None:
        counts = class_counts(targets)
        if len(counts) != len(groups):
            raise ValueError(f"targets of length {len(counts)}: expected one per clip ({len(groups)})")
        _, per_group = _group_counts(groups, counts)
        if not _covers(per_group, fold_of, num_folds):
            fold_of = stratified_group_folds(per_group, num_folds)
    test = np.isin(groups, unique[fold_of == fold])
    return np.flatnonzero(~test), np.flatnonzero(test)


def validation_groups(groups, targets, fraction: float, seed: int = 0) -> np.ndarray:
    """The group ids to hold out of a training part for validation: ``round(fraction * G)``
    of its ``G`` groups (at least 1), chosen one at a time, in a seeded random order, as the
    group that brings every class's held-out share closest to ``fraction``, never a class's
    last training group. Groups that each hold every class come out in the seeded order.

    Raises:
        ValueError: if no group can be held out without leaving a class without training clips.
    """
    groups = _groups(groups)
    unique, per_group = _group_counts(groups, class_counts(targets))
    wanted = max(1, int(round(fraction * len(unique))))
    order = np.random.default_rng(seed).permutation(len(unique))
    total = per_group.sum(0).astype(np.float64)  # (C,)
    present = total > 0
    if wanted < len(unique) and (per_group[:, present] > 0).all():  # shared groups: as drawn
        return np.sort(unique[order[:wanted]])
    held = np.zeros_like(total)
    chosen: list[int] = []
    for _ in range(min(wanted, len(unique) - 1)):
        best, best_cost = None, None
        for g in order:
            if g in chosen or (present & (total - held - per_group[g] <= 0)).any():
                continue
            share = (held + per_group[g])[present] / total[present]
            cost = round(float(((share - fraction) ** 2).sum()), 12)
            if best_cost is None or cost < best_cost:
                best, best_cost = g, cost
        if best is None:
            break
        chosen.append(int(best))
        held += per_group[best]
    if not chosen:
        raise ValueError(f"no training group can be held out for validation without leaving a class without "
                         f"training clips ({len(unique)} training group(s))")
    return unique[sorted(chosen)]


def check_classes(targets, parts: dict[str, np.ndarray], classes: list[str], where: str) -> list[str]:
    """Refuse a split whose training part lacks a class that has clips; return notes on the
    classes the other parts lack.

    Args:
        targets: ``(N,)`` class indices or ``(N, C)`` multi-hot labels of the whole data set.
        parts: index arrays by name, ``"train"`` among them (``"val"``, ``"test"``).
        classes: class names.
        where: the split in words, for the messages (``"data.split='group_kfold' fold 0"``).

    Raises:
        ValueError: naming the first class with clips but no training clip, and the fold.
    """
    counts = class_counts(targets, len(classes))
    present = counts.sum(0) > 0
    has = {name: counts[np.asarray(idx, np.int64)].sum(0) > 0 for name, idx in parts.items()}
    lacking = np.flatnonzero(present & ~has["train"])
    if lacking.size:
        c = int(lacking[0])
        where_it_is = ", ".join(f"{int(counts[np.asarray(idx, np.int64), c].sum())} in {name}"
                                for name, idx in parts.items() if name != "train")
        raise ValueError(f"{where}: class {classes[c]!r} has no training clip ({where_it_is}); expected every class "
                         f"in training: more groups of that class, fewer folds (data.num_folds), or another split")
    notes = []
    for name, idx in parts.items():
        if name == "train" or len(idx) == 0:
            continue
        missing = np.flatnonzero(present & ~has[name])
        if missing.size:
            tested = int((present & has[name]).sum())
            shown = ", ".join(repr(classes[int(c)]) for c in missing[:6]) + (", ..." if missing.size > 6 else "")
            notes.append(f"{where}: the {name} part holds {tested} of the {int(present.sum())} classes "
                         f"(none of {shown})")
    return notes


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
        return group_kfold(dataset.groups, num_folds or 5, fold, targets=dataset.targets)
    if protocol == "logo":
        return leave_one_group_out(dataset.groups, fold)
    if getattr(dataset, "official", None) is None:
        raise ValueError(f"protocol='official': {type(dataset).__name__} has no official split "
                         f"(HMDB51, UCF101, Hollywood2 and KTH built with subset='all' have)")
    return official_split(dataset.official)
