"""The LightningDataModule: a dataset of ``tensorrnn.data``, a split, and its DataLoaders.

The module holds plain values only (saved with ``save_hyperparameters()``, so a checkpoint
records how its clips were decoded and sampled, and ``tensorrnn predict`` repeats it).
``num_classes``, ``multilabel`` and ``classes`` are read from the dataset on first use and
linked into the model by the CLI.
"""
from __future__ import annotations

import copy
import functools
import warnings
from pathlib import Path
from typing import Any, Optional

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from tensorrnn.errors import check_keywords
from tensorrnn.papers import UCF11_FRAME_SIZE

#: Datasets whose official protocol has three splits (``fold`` 0..2 selects split 1..3).
THREE_OFFICIAL_SPLITS = ("hmdb51", "ucf101")
#: How the validation clips are taken from the training part of a split.
VAL_SPLITS = ("auto", "groups", "clips", "none", "test")
#: Where the training clips are augmented (``data.augment_on``).
AUGMENT_ON = ("device", "loader")
#: Where the training clips' JPEGs are decoded (``data.decode_on``).
DECODE_ON = ("auto", "loader", "device")
#: Frames a clip in the default recipe: twice the papers' 6 (``papers.FRAMES_PER_CLIP``), which
#: catch little of a motion's path in real clips of a few seconds (docs/recipes.md).
RECIPE_FRAMES = 12
#: ``val_split="auto"`` holds out whole groups when the training part has at least this many.
MIN_VAL_GROUPS = 5
#: ... and otherwise a share of the training clips when there are at least this many per class.
MIN_CLIPS_PER_CLASS = 10


def _check_size(size) -> list[int]:
    """``data.size`` as ``[width, height]``; the data layer's own check, plus "no None" (the
    model's input size is fixed)."""
    from tensorrnn.data.video import check_size

    try:
        width, height = check_size(size)
    except ValueError as err:
        raise ValueError(f"data.{err}") from None
    if width is None:
        raise ValueError("data.size=None: expected [width, height] of positive integers, e.g. [160, 120]")
    return [width, height]


def _check_dataset(dataset: str, split: str, options: dict[str, Any]) -> str:
    """The registry name of ``data.dataset``; ``data.split`` and ``data.dataset_options`` checked
    here, so a mistake is named by its config key rather than by a keyword deep inside."""
    from tensorrnn.data import DATASETS
    from tensorrnn.data.splits import PROTOCOLS

    name = str(dataset).lower().replace("-", "_")  # as build_dataset looks it up
    if name not in DATASETS:
        raise ValueError(f"data.dataset={dataset!r}: expected one of {', '.join(DATASETS)}")
    if split not in ("auto", *PROTOCOLS):
        raise ValueError(f"data.split={split!r}: expected one of {', '.join(map(repr, ('auto', *PROTOCOLS)))}")
    # dataset keywords this module sets (dataset_kwargs), and those the dataset class sets itself
    reserved = {key: f"data.{key}" for key in ("num_frames", "size", "stride", "pad", "scaling", "cache_dir",
                                               "features", "root", "annotations", "classes_file", "store")}
    reserved["quality"] = "data.jpeg_quality"
    reserved.update(sampling="data.sampling / data.eval_sampling",
                    seed="data.eval_seed (evaluation) and seed_everything (training)",
                    **{key: f"the {name} dataset itself" for key in ("clips", "classes", "multilabel", "official",
                                                                    "missing")})
    if split == "official":
        reserved.update(subset="data.split='official' (every clip)", split="data.fold")
    check_keywords("data.dataset_options", options, DATASETS[name], reserved)
    return name


def _accepts(dataset: str, keyword: str) -> bool:
    """Whether the dataset class takes ``keyword`` (a dataset without ``subset`` has no official
    split: ``make_split`` then says so, rather than a ``TypeError`` from its constructor)."""
    import inspect

    from tensorrnn.data import DATASETS

    return keyword in inspect.signature(DATASETS[dataset].__init__).parameters


def _check_annotations(dataset: str, annotations: str | None, classes_file: str | None) -> None:
    """``data.annotations`` / ``data.classes_file``: given exactly for the ``annotations`` dataset."""
    if dataset != "annotations":
        for key, value in (("annotations", annotations), ("classes_file", classes_file)):
            if value is not None:
                raise ValueError(f"data.{key}={value!r}: only read with data.dataset='annotations' "
                                 f"(data.dataset={dataset!r}); expected null")
        return
    if annotations is None:
        raise ValueError("data.annotations=None: data.dataset='annotations' needs the list file "
                         "(--data.annotations LIST: lines 'path label [group]', paths relative to data.root)")
    for key, value in (("annotations", annotations), ("classes_file", classes_file)):
        if value is not None and not Path(value).is_file():
            raise FileNotFoundError(f"data.{key}={value!r}: no such file")


class VideoDataModule(L.LightningDataModule):
    """Clips of one data set, split into train / val / test.

    Args:
        dataset: a name of ``tensorrnn.data.DATASETS`` (``ucf11``, ``hollywood2``,
            ``youtube_celebrities``, ``hmdb51``, ``ucf101``, ``folder``, ``annotations``, ``kth``,
            ``weizmann``).
        root: the data set's folder (for ``features=True``: a folder of ``.npy`` arrays in
            the same layout).
        split: the split protocol (``tensorrnn.data.splits``): ``auto`` (the default:
            ``group_kfold`` where every clip has a group and there are at least 2 groups, with
            at most as many folds as groups; else ``tt_rnn``, a clip split), ``group_kfold``
            (no group in both train and test, every class in every fold where the groups allow),
            ``logo`` (leave one group out), ``official`` (HMDB51 and UCF101: the three official
            splits, ``fold`` 0..2 = split 1..3; Hollywood2: the clean train / test; KTH: the
            paper's persons, with its validation persons), or the papers' clip splits, which put
            clips of one group in train and test where the data has groups (a run says so):
            ``tt_rnn`` (TT-RNN 5-fold, seed 11111986) and ``bt_rnn`` (one random 80/20 split).
            A split whose training part lacks a class is refused before any training.
        fold: which fold is held out (0-based).
        num_folds: folds of ``tt_rnn`` and ``group_kfold``.
        num_frames: frames per clip (the default recipe: 12; the papers: 6).
        size: frame size ``[width, height]`` after resizing (the papers: 160x120).
        sampling: frame policy for training: ``segments`` (one random frame of each of
            ``num_frames`` equal segments, TSN), ``random`` (ascending, the papers),
            ``uniform``, ``stride``, ``all``.
        eval_sampling: policy for validation / test / predict; its random frames are drawn
            from a fixed seed (``eval_seed``), the same every epoch.
        eval_views: views per clip in validation / test / predict (K >= 1): the class
            probabilities of K frame samples are averaged (``segments``: K evenly spaced
            offsets in every segment, as MMAction2's ``num_clips``; ``random``: K seeded draws).
        stride: step of ``stride`` sampling.
        pad: short clips: ``front`` (zeros, the papers), ``repeat`` or ``reject``.
        scaling: pixel scaling ``unit`` (x/128-1), ``center`` (x-128, the Keras code),
            ``standard``, ``none``. With ``model.normalize: auto`` (the default) the model
            standardises its input itself, so the choice does not change training.
        crop_scale: random resized crop of training clips: the crop's share of the frame's
            area, drawn in ``[min, max]`` (``[1, 1]``: off); the same box for every frame of a clip.
        brightness, contrast: jitter of training clips by factors in ``[1 - v, 1 + v]``.
        flip: probability of a horizontal flip of a training clip. Off by default: a flip turns
            "left to right" into "right to left"; turn it on for mirror-symmetric actions
            (UCF11, HMDB51, UCF101, KTH and Weizmann configs do: none of their classes is a
            direction).
        hue: turn the colours of a training clip about the grey axis by up to this share of
            a full turn, in ``[0, 0.5]`` (0.5: any hue; greys, brightness and motion are kept).
            Off by default and in every shipped config: measured, it gains nothing across the
            generated sets and real handheld footage (docs/recipes.md).
        drift: let the crop box travel across a training clip in a straight line, as a
            panning camera's view does, up to this share of the way to a second random place in
            the frame, in ``[0, 1]`` (needs ``crop_scale`` below 1). Off by default: measured in
            docs/recipes.md.
        augment_on: where the training clips' augmentation runs: ``device`` (on the batch,
            after its transfer to the model's device, clip by clip: the loader only decodes and
            draws each clip's parameters) or ``loader`` (each clip in the loading threads or
            workers, as uint8: worth it with ``num_workers`` on spare CPU cores beside a busy
            GPU). The same draws of the same transforms either way; ``device`` keeps the
            brightness and contrast in float where ``loader`` rounds them to grey levels.
        decode_on: where the training clips' frames are decoded from the JPEG store: ``loader``
            (the loading threads, with libjpeg-turbo), ``device`` (the batch's JPEGs after the
            transfer, on the model's device: one nvjpeg call on a GPU, needs torchvision) or
            ``auto``: ``device`` when the model is on a CUDA device and torchvision is
            installed, else ``loader``. Evaluation clips and a ``raw`` store are decoded by the loader.
        features: read per-frame feature arrays (one ``.npy`` of shape ``(T, F)`` per clip)
            instead of decoding video.
        cache_dir: the folder of the clip stores, every clip decoded once (see ``tensorrnn
            prepare``): ``auto`` (the default) ``$XDG_CACHE_HOME/tensorrnn`` or
            ``~/.cache/tensorrnn``; ``none`` (or null) decodes video at every access.
        store: ``jpeg`` (frames as 4:2:0 JPEGs, far smaller than ``raw``; only the sampled frames are
            decoded) or ``raw`` (uint8 frames, exact).
        jpeg_quality: JPEG quality of the ``jpeg`` store, 1..100.
        split_seed: seed of the random split protocols (``None``: the protocol's own, e.g.
            11111986 for ``tt_rnn``).
        eval_seed: seed of the evaluation clips' frame choice.
        val_split: where the validation clips come from (the checkpoint is selected on them,
            and the test split is evaluated once, at the end of ``fit``): ``groups`` (whole
            groups of the training part), ``clips`` (a share of the training clips of every
            class), ``none`` (no validation: train on everything, keep the last checkpoint),
            ``test`` (validate on the test split, as the papers' code did: selection then
            sees the test clips), or ``auto``: the dataset's official validation clips with
            ``split: official`` where it has them (KTH), else ``groups`` when the training
            part has at least 5 groups, else ``clips`` when it has at least 10 clips per
            class, else ``none``.
        val_fraction: share of the training groups or clips held out for validation.
        batch_size, num_workers: DataLoader settings.
        load_threads: threads that build a batch's samples in each loading process (the main
            process with ``num_workers: 0``, else each worker); JPEG decoding and the uint8
            augmentation release the GIL. ``null``: the CPU cores shared among the loading
            processes of this machine's ranks, at most 8. The samples do not depend on it.
        dataset_options: further keyword arguments for ``tensorrnn.data.build_dataset``
            (``progress``, ``max_bad_fraction``, ...); an unknown key, or one set by an
            argument above (``size``, ``num_frames``, ...), is a ``ValueError``. For example
            ``{"group_depth": 1}`` for ``folder`` (``<class>/<group>/<clip>``), ``{"sequences":
            null}`` for ``kth`` (whole videos), ``{"delimiter": ","}`` for ``annotations``.
        annotations: ``dataset: annotations``: the list file, ``path label [group]`` per line
            (CSV or whitespace separated; MMAction2's ``path label`` as is; ``a,b`` multi-label),
            paths relative to ``root`` and inside it (see ``tensorrnn.data.datasets.annotations``).
        classes_file: ``dataset: annotations``: class names, one a line (integer labels index
            it); ``null``: taken from the labels.
    """

    def __init__(
        self,
        dataset: str = "ucf11",
        root: Optional[str] = None,
        split: str = "auto",
        fold: int = 0,
        num_folds: int = 5,
        num_frames: int = RECIPE_FRAMES,
        size: list[int] = list(UCF11_FRAME_SIZE),
        sampling: str = "segments",
        eval_sampling: str = "segments",
        eval_views: int = 3,
        stride: int = 1,
        pad: str = "front",
        scaling: str = "unit",
        crop_scale: list[float] = (0.6, 1.0),
        brightness: float = 0.2,
        contrast: float = 0.2,
        flip: float = 0.0,
        hue: float = 0.0,
        drift: float = 0.0,
        augment_on: str = "device",
        decode_on: str = "auto",
        features: bool = False,
        cache_dir: Optional[str] = "auto",
        store: str = "jpeg",
        jpeg_quality: int = 90,
        split_seed: Optional[int] = None,
        eval_seed: int = 0,
        val_split: str = "auto",
        val_fraction: float = 0.2,
        batch_size: int = 16,
        num_workers: int = 0,
        load_threads: Optional[int] = None,
        dataset_options: Optional[dict[str, Any]] = None,
        annotations: Optional[str] = None,
        classes_file: Optional[str] = None,
    ) -> None:
        super().__init__()
        if root is None:
            raise ValueError(f"data.root=None: expected the {dataset} folder (--data.root DIR)")
        if not Path(root).is_dir():
            raise FileNotFoundError(f"data.root={root!r}: no such directory; expected the {dataset} folder")
        from tensorrnn.data.store import STORES, resolve_cache_dir

        folder = resolve_cache_dir(cache_dir)
        if folder is not None and folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"data.cache_dir={cache_dir!r}: {str(folder)!r} exists and is not a directory")
        if store not in STORES:
            raise ValueError(f"data.store={store!r}: expected one of {', '.join(map(repr, STORES))}")
        if isinstance(jpeg_quality, bool) or not isinstance(jpeg_quality, int) or not 1 <= jpeg_quality <= 100:
            raise ValueError(f"data.jpeg_quality={jpeg_quality!r}: expected an integer in 1..100")
        for name, value, low in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0),
                                 ("num_frames", num_frames, 1), ("fold", fold, 0), ("num_folds", num_folds, 2),
                                 ("eval_views", eval_views, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"data.{name}={value!r}: expected an integer >= {low}")
        if load_threads is not None and (isinstance(load_threads, bool) or not isinstance(load_threads, int)
                                         or load_threads < 1):
            raise ValueError(f"data.load_threads={load_threads!r}: expected an integer >= 1, or null (automatic)")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"data.val_fraction={val_fraction!r}: expected 0 < value < 1")
        if val_split not in VAL_SPLITS:
            raise ValueError(f"data.val_split={val_split!r}: expected one of {', '.join(map(repr, VAL_SPLITS))}")
        if augment_on not in AUGMENT_ON:
            raise ValueError(f"data.augment_on={augment_on!r}: expected one of {', '.join(map(repr, AUGMENT_ON))}")
        if decode_on not in DECODE_ON:
            raise ValueError(f"data.decode_on={decode_on!r}: expected one of {', '.join(map(repr, DECODE_ON))}")
        crop_scale = [float(v) for v in crop_scale] if isinstance(crop_scale, (list, tuple)) else crop_scale
        try:  # one error line named by the config key
            from tensorrnn.data.transforms import ClipAugment

            ClipAugment(crop_scale=crop_scale, brightness=brightness, contrast=contrast, flip=flip, hue=hue,
                        drift=drift)
        except (ValueError, TypeError) as err:
            raise ValueError(f"data.{err}") from None
        size = _check_size(size)
        dataset_options = dict(dataset_options or {})
        dataset = _check_dataset(dataset, split, dataset_options)
        _check_annotations(dataset, annotations, classes_file)
        self.save_hyperparameters()
        self._full = None
        self._splits: dict[str, Dataset] = {}
        #: How the validation clips were chosen (set by ``setup``; logged and put in metrics.json).
        self.validation: str = ""
        #: What a user should know of the split (set by ``setup``; logged and put in metrics.json):
        #: ``auto``'s choice, a clip split over groups, parts that lack classes.
        self.split_notes: list[str] = []

    # --- the dataset and its properties (read lazily: the CLI links them into the model) ----

    def dataset_kwargs(self, sampling: str | None = None) -> dict[str, Any]:
        """Keyword arguments of ``tensorrnn.data.build_dataset`` for these options."""
        from tensorrnn.data.store import resolve_cache_dir

        hp = self.hparams
        cache_dir = resolve_cache_dir(hp.cache_dir)
        # seed=None: training frames come from torch's global generator, which Lightning's
        # seed_everything seeds and the DataLoader re-seeds per worker and per epoch.
        kwargs = dict(num_frames=hp.num_frames, size=tuple(hp.size), sampling=sampling or hp.sampling,
                      stride=hp.stride, pad=hp.pad, scaling=hp.scaling,
                      cache_dir=None if cache_dir is None else str(cache_dir), features=hp.features, seed=None,
                      store=hp.store, quality=hp.jpeg_quality)
        if hp.split == "official" and _accepts(hp.dataset, "subset"):  # every clip, with its official role
            kwargs["subset"] = "all"
            if hp.dataset in THREE_OFFICIAL_SPLITS:
                kwargs["split"] = hp.fold + 1
        if hp.dataset == "annotations":
            kwargs.update(annotations=hp.annotations, classes_file=hp.classes_file)
        kwargs.update(hp.dataset_options or {})
        return kwargs

    def augmentation(self):
        """The :class:`~tensorrnn.data.transforms.ClipAugment` of the training clips."""
        from tensorrnn.data.transforms import ClipAugment

        hp = self.hparams
        return ClipAugment(crop_scale=[float(v) for v in hp.crop_scale], brightness=hp.brightness,
                           contrast=hp.contrast, flip=hp.flip, hue=hp.hue, drift=hp.drift)

    def eval_dataset(self, dataset, views: int | None = None):
        """A copy of ``dataset`` that samples with ``eval_sampling`` and a fixed seed, so an
        evaluation clip gets the same frames every epoch (and in ``predict``), without
        augmentation, ``views`` views per clip (default ``eval_views``; 0: no view axis)."""
        evaluation = dataset.subset(range(len(dataset)))
        evaluation.sampling, evaluation.seed = self.hparams.eval_sampling, self.hparams.eval_seed
        evaluation.views = self.hparams.eval_views if views is None else views
        evaluation.augment = None
        evaluation.set_epoch(0)
        return evaluation

    def _build(self, sampling: str | None = None):
        from tensorrnn.data import build_dataset

        return build_dataset(self.hparams.dataset, self.hparams.root, **self.dataset_kwargs(sampling))

    @property
    def full(self):
        if self._full is None:
            self._full = self._build()
            if len(self._full) == 0:
                raise ValueError(f"data.root={self.hparams.root!r}: no clips found for dataset "
                                 f"{self.hparams.dataset!r}")
        return self._full

    @property
    def num_classes(self) -> int:
        return int(self.full.num_classes)

    @property
    def multilabel(self) -> bool:
        return bool(self.full.multilabel)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.full.classes]

    @property
    def frame_features(self) -> int:
        """Features per time step the model receives (W*H*3, or F for feature arrays)."""
        if self.hparams.features:
            x, _ = self.full[0]
            return int(x[0].numel())
        width, height = self.hparams.size
        return width * height * 3

    @property
    def frame_description(self) -> str:
        if self.hparams.features:
            return f"feature arrays of {self.frame_features} values per frame"
        width, height = self.hparams.size
        return f"frames of {width}x{height}x3"

    @property
    def protocol(self) -> tuple[str, int]:
        """``(protocol, num_folds)`` this module splits with: ``data.split`` and ``data.num_folds``,
        or what ``auto`` resolves to for this data (``group_kfold`` with at most one fold per
        group where every clip has a group and there are 2 or more, else ``tt_rnn``)."""
        hp = self.hparams
        if hp.split != "auto":
            return hp.split, hp.num_folds
        groups = self.full.groups
        count = len(np.unique(groups)) if len(groups) and (groups >= 0).all() else 0
        return ("group_kfold", min(hp.num_folds, count)) if count >= 2 else ("tt_rnn", hp.num_folds)

    @property
    def num_folds(self) -> int:
        from tensorrnn.data import splits

        if self.hparams.split == "official" and self.hparams.dataset in THREE_OFFICIAL_SPLITS:
            return 3
        protocol, num_folds = self.protocol
        return splits.num_splits(self.full, protocol, num_folds=num_folds)

    # --- splits and loaders -------------------------------------------------------------------

    def _indices(self) -> tuple[list[int], list[int]]:
        from tensorrnn.data import splits

        hp = self.hparams
        fold = 0 if hp.split == "official" else hp.fold  # official: the fold chose the files
        protocol, num_folds = self.protocol
        try:
            train, test = splits.make_split(self.full, protocol, fold=fold, num_folds=num_folds, seed=hp.split_seed)
        except ValueError as err:  # named by the config key: fold=..., num_folds=...
            message = str(err)
            raise ValueError(message if message.startswith(("protocol", "groups")) else f"data.{message}") from None
        return [int(i) for i in train], [int(i) for i in test]

    def _validation(self, train: list[int], test: list[int]) -> tuple[list[int], list[int], str]:
        """``(train, val, how)``: the validation clips taken out of ``train`` by ``val_split``."""
        hp = self.hparams
        how = hp.val_split
        groups = self.full.groups[train] if train else self.full.groups[:0]
        has_groups = len(groups) > 0 and bool((groups >= 0).all())
        official = getattr(self.full, "official", None)
        if how == "auto" and hp.split == "official" and official is not None and (official == "val").any():
            val = np.flatnonzero(official == "val").tolist()  # KTH: the paper's validation persons
            return train, val, f"the official validation split ({len(val)} clips)"
        if how == "auto":
            per_class = len(train) / max(1, self.num_classes)
            how = ("groups" if has_groups and len(set(groups.tolist())) >= MIN_VAL_GROUPS
                   else "clips" if per_class >= MIN_CLIPS_PER_CLASS else "none")
        if how == "test":
            return train, list(test), ("the test split (data.val_split='test', the papers' code): the checkpoint is "
                                       "selected on the clips it is tested on")
        if how == "none":
            return train, [], f"none: all {len(train)} training clips train, the last checkpoint is kept"
        rng = np.random.default_rng(hp.eval_seed)
        if how == "groups":
            if not has_groups:
                raise ValueError(f"data.val_split='groups': the {hp.dataset} clips have no groups; expected "
                                 "'clips', 'none' or 'auto'")
            from tensorrnn.data.splits import validation_groups

            unique = np.unique(groups)
            if len(unique) < 2:
                raise ValueError(f"data.val_split='groups': the training part has {len(unique)} group(s), too few to "
                                 "hold one out and still train; expected 'clips', 'none' or 'auto'")
            try:  # stratified: every class keeps training groups, and gets its share of validation
                held = set(validation_groups(groups, np.asarray(self.full.targets)[train], hp.val_fraction,
                                             seed=hp.eval_seed).tolist())
            except ValueError as err:
                raise ValueError(f"data.val_split='groups': {err}; expected 'clips', 'none' or 'auto'") from None
            val = [i for i, g in zip(train, groups.tolist()) if g in held]
            note = f"{len(val)} clips of {len(held)} of the {len(unique)} training groups ({sorted(held)})"
        else:  # clips: a share of every class (of all clips for multi-label data)
            keys = (np.zeros(len(train), np.int64) if self.multilabel
                    else np.asarray(self.full.targets)[train] if train else np.zeros(0, np.int64))
            val = []
            for key in np.unique(keys):
                members = [t for t, k in zip(train, keys.tolist()) if k == key]
                n_val = int(round(hp.val_fraction * len(members)))
                val += rng.permutation(members)[:min(n_val, len(members) - 1)].tolist()
            if not val:
                raise ValueError(f"data.val_split='clips': {len(train)} training clips are too few to hold a share "
                                 f"of {hp.val_fraction} out; expected 'none' or 'auto'")
            note = f"{len(val)} of the {len(train)} training clips ({hp.val_fraction:.0%} of every class)"
        held_out = set(val)
        return [i for i in train if i not in held_out], sorted(val), note

    def setup(self, stage: str | None = None) -> None:
        if self._splits:
            return
        train, test = self._indices()
        train, val, how = self._validation(train, test)
        if not train:  # Lightning's sampler would fail later with a message naming no option
            hp = self.hparams
            raise ValueError(f"data.split={hp.split!r}, data.fold={hp.fold}, data.val_split={hp.val_split!r} leave "
                             f"no training clips (0 of {len(self.full)}); expected a split that trains on some clips")
        self.validation = how
        self.split_notes = self._check_split(train, val, test)
        self._check_flip()
        evaluation = self.eval_dataset(self.full)
        training = self.full.subset(train)
        training.augment = self.augmentation()
        self._train_indices = train
        self._splits = {"train": training, "val": evaluation.subset(val), "test": evaluation.subset(test)}

    def _check_flip(self) -> None:
        """Warn when training clips are flipped and two classes are each other's mirror image."""
        from tensorrnn.data.transforms import mirrored_class_pairs

        if self.hparams.flip > 0 and not self.hparams.features:
            pairs = mirrored_class_pairs(self.classes)
            if pairs:
                shown = ", ".join(f"{a!r} / {b!r}" for a, b in pairs[:4]) + (", ..." if len(pairs) > 4 else "")
                warnings.warn(f"data.flip={self.hparams.flip}: a left-right flip turns one class of a pair into the other "
                              f"({shown}), so flipped training clips carry the wrong label; expected --data.flip 0 "
                              "when classes are directions", stacklevel=2)

    def _check_split(self, train: list[int], val: list[int], test: list[int]) -> list[str]:
        """Refuse a split whose training part lacks a class (before any training); notes on
        ``auto``'s choice, a clip split over groups, and parts that lack classes."""
        from tensorrnn.data.splits import check_classes

        hp = self.hparams
        protocol, num_folds = self.protocol
        where = f"data.split={hp.split!r}" + (f" ({protocol})" if protocol != hp.split else "") + f" fold {hp.fold}"
        notes = []
        groups = self.full.groups
        grouped = len(groups) > 0 and bool((groups >= 0).all())
        if hp.split == "auto":
            notes.append(f"data.split='auto': {protocol}" + (f" with {num_folds} folds" if protocol == "group_kfold"
                                                             else " (the clips have no groups: a clip split)"))
        if protocol in ("tt_rnn", "bt_rnn") and grouped and len(test):
            shared = np.intersect1d(groups[train], groups[test]).size
            if shared:
                notes.append(f"data.split={protocol!r} is a clip split: {shared} of the {len(np.unique(groups))} "
                             "groups have clips in both train and test, so the test accuracy is optimistic (the "
                             "papers' protocol; group-disjoint: data.split group_kfold or logo)")
        parts = {"train": np.asarray(train, np.int64), "val": np.asarray(val, np.int64),
                 "test": np.asarray(test, np.int64)}
        if protocol == "logo" and not self.multilabel:
            tested = np.unique(np.asarray(self.full.targets)[test])
            if len(tested) == 1:
                notes.append(f"{where}: the test fold is one group, which holds one class "
                             f"({self.classes[int(tested[0])]!r}): its accuracy is that class's recall")
                parts.pop("test")
        return notes + check_classes(self.full.targets, parts, self.classes, where)

    @property
    def has_validation(self) -> bool:
        self.setup()
        return len(self._splits["val"]) > 0

    @property
    def load_threads(self) -> int:
        """Threads per loading process (``load_threads``, or the cores shared among the
        loading processes of this machine's ranks, at most 8)."""
        from tensorrnn.data.datasets import default_load_threads

        if self.hparams.get("load_threads") is not None:
            return self.hparams.load_threads
        trainer = getattr(self, "trainer", None)
        ranks = getattr(trainer, "num_devices", 1) if trainer is not None else 1
        return default_load_threads(self.hparams.num_workers, ranks if isinstance(ranks, int) else 1)

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        from tensorrnn.data.datasets import collate_clips

        hp = self.hparams
        dataset = self._splits[name]
        if hasattr(dataset, "deferred_scaling"):
            # uint8 samples, scaled on the batch by on_after_batch_transfer (on the model's
            # device): a quarter of the bytes collated, through worker memory and to the device;
            # written straight into their batch by load_threads threads (collate_clips: no copy)
            dataset = copy.copy(dataset)
            dataset.deferred_scaling = True
            dataset.deferred_augmentation = hp.augment_on == "device"
            dataset.deferred_decoding = name == "train" and self.decodes_on_device
            dataset.load_threads = self.load_threads
        return DataLoader(dataset, batch_size=hp.batch_size, shuffle=shuffle,
                          num_workers=hp.num_workers, persistent_workers=hp.num_workers > 0,
                          drop_last=False, collate_fn=collate_clips)

    @functools.cached_property
    def feature_record(self) -> dict | None:
        """With ``features``: the record of the folder's features (``features.json`` of
        ``tensorrnn features``: backbone, weights, frame policy), which ``fit`` keeps in its
        checkpoints so that ``predict`` can take videos; None without one. Read once: every
        checkpoint save asks for it."""
        if not self.hparams.features:
            return None
        from tensorrnn.data.features import read_record

        return read_record(self.hparams.root)

    @property
    def decodes_on_device(self) -> bool:
        """Whether the training batches' JPEGs are decoded after the transfer (``decode_on``)."""
        hp = self.hparams
        if hp.get("decode_on", "auto") != "auto":
            return hp.decode_on == "device"
        trainer = getattr(self, "trainer", None)
        device = getattr(getattr(trainer, "strategy", None), "root_device", None) if trainer is not None else None
        if hp.store != "jpeg" or device is None or device.type != "cuda":
            return False
        import importlib.util

        return importlib.util.find_spec("torchvision") is not None

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Scale a batch of uint8 frames (the loaders' deferred scaling) as the dataset would
        have scaled each clip, bit for bit (:func:`~tensorrnn.data.sampling.scale_frames`); a
        training batch that carries its clips' augmentation (``augment_on: device``) is
        augmented and scaled clip by clip here, on the model's device
        (:func:`~tensorrnn.data.transforms.augment_batch`), and goes on as ``[frames, target]``."""
        from tensorrnn.data.datasets import AugmentedSample, EncodedSample, decode_batch
        from tensorrnn.data.sampling import PAD_BYTE, scale_frames
        from tensorrnn.data.transforms import augment_batch

        if isinstance(batch, EncodedSample):  # decode_on: device; a CPU's loading threads share the JPEGs
            frames = decode_batch(batch, tuple(self.hparams.size), PAD_BYTE[self.hparams.scaling], self.load_threads)
            batch = (AugmentedSample(frames, batch.target, batch.augment) if batch.augment is not None
                     else [frames, batch.target])
        if isinstance(batch, AugmentedSample):
            # on a CPU the loading threads, idle while the batch is augmented, share its clips
            return [augment_batch(batch.frames, batch.augment, self.hparams.scaling, threads=self.load_threads),
                    batch.target]
        if isinstance(batch, (list, tuple)) and isinstance(batch[0], torch.Tensor) and batch[0].dtype == torch.uint8:
            batch = type(batch)([scale_frames(batch[0], self.hparams.scaling), *batch[1:]])
        return batch

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def statistics_dataloader(self, max_clips: int = 64) -> DataLoader:
        """Up to ``max_clips`` training clips, evenly spread over the training part, sampled as
        evaluation clips (fixed seed, no augmentation, one view): the same clips on every rank,
        for the model's input normalisation."""
        self.setup()
        train = self._train_indices
        picks = sorted({train[int(i)] for i in np.linspace(0, len(train) - 1, min(max_clips, len(train)))})
        clips = self.eval_dataset(self.full, views=0).subset(picks)
        return DataLoader(clips, batch_size=self.hparams.batch_size, shuffle=False, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def describe_split(self) -> str:
        """One line: the split, its sizes and how the validation clips were chosen."""
        sizes, hp = self.split_sizes(), self.hparams
        protocol = self.protocol[0]
        name = repr(hp.split) + (f" ({protocol})" if protocol != hp.split else "")
        return "\n".join([f"split {name} fold {hp.fold}: {sizes['train']} train, {sizes['val']} validation, "
                          f"{sizes['test']} test clips; validation: {self.validation}",
                          *(f"note: {note}" for note in self.split_notes)])

    def split_sizes(self) -> dict[str, int]:
        self.setup()
        return {name: len(ds) for name, ds in self._splits.items()}
