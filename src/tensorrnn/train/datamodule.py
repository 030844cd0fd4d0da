"""The LightningDataModule: a dataset of ``tensorrnn.data``, a split, and its DataLoaders.

The module holds plain values only (saved with ``save_hyperparameters()``, so a checkpoint
records how its clips were decoded and sampled, and ``tensorrnn predict`` repeats it).
``num_classes``, ``multilabel`` and ``classes`` are read from the dataset on first use and
linked into the model by the CLI.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from tensorrnn.errors import check_keywords
from tensorrnn.papers import FRAMES_PER_CLIP, UCF11_FRAME_SIZE

#: Datasets whose official protocol has three splits (``fold`` 0..2 selects split 1..3).
THREE_OFFICIAL_SPLITS = ("hmdb51", "ucf101")


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
    if split not in PROTOCOLS:
        raise ValueError(f"data.split={split!r}: expected one of {', '.join(map(repr, PROTOCOLS))}")
    # dataset keywords this module sets (dataset_kwargs), and those the dataset class sets itself
    reserved = {key: f"data.{key}" for key in ("num_frames", "size", "stride", "pad", "scaling", "cache_dir",
                                               "features", "root")}
    reserved.update(sampling="data.sampling / data.eval_sampling",
                    seed="data.eval_seed (evaluation) and seed_everything (training)",
                    **{key: f"the {name} dataset itself" for key in ("clips", "classes", "multilabel", "official",
                                                                    "missing")})
    if split == "official":
        reserved.update(subset="data.split='official' (every clip)", split="data.fold")
    check_keywords("data.dataset_options", options, DATASETS[name], reserved)
    return name


class VideoDataModule(L.LightningDataModule):
    """Clips of one data set, split into train / val / test.

    Args:
        dataset: a name of ``tensorrnn.data.DATASETS`` (``ucf11``, ``hollywood2``,
            ``youtube_celebrities``, ``hmdb51``, ``ucf101``, ``folder``).
        root: the data set's folder (for ``features=True``: a folder of ``.npy`` arrays in
            the same layout).
        split: the split protocol (``tensorrnn.data.splits``): ``tt_rnn`` (TT-RNN 5-fold,
            seed 11111986), ``bt_rnn`` (one random 80/20 split), ``group_kfold`` (no group in
            both train and test), ``logo`` (leave one group out) or ``official`` (HMDB51 and
            UCF101: the three official splits, ``fold`` 0..2 = split 1..3; Hollywood2: the
            clean train / test).
        fold: which fold is held out (0-based).
        num_folds: folds of ``tt_rnn`` and ``group_kfold``.
        num_frames: frames per clip (the papers: 6).
        size: frame size ``[width, height]`` after resizing (the papers: 160x120).
        sampling: frame policy for training: ``random`` (ascending, the papers), ``uniform``,
            ``stride``, ``all``.
        eval_sampling: policy for validation / test / predict; its random frames are drawn
            from a fixed seed (``split_seed``), the same every epoch.
        stride: step of ``stride`` sampling.
        pad: short clips: ``front`` (zeros, the papers), ``repeat`` or ``reject``.
        scaling: pixel scaling ``center`` (x-128, the Keras code), ``unit``, ``standard``, ``none``.
        features: read per-frame feature arrays (one ``.npy`` of shape ``(T, F)`` per clip)
            instead of decoding video.
        cache_dir: decode-once frame cache (see ``tensorrnn prepare``).
        split_seed: seed of the random split protocols (``None``: the protocol's own, e.g.
            11111986 for ``tt_rnn``).
        eval_seed: seed of the evaluation clips' frame choice.
        val_fraction: share of the training clips held out for validation; ``0`` validates on
            the held-out test fold (as the papers' code did).
        batch_size, num_workers: DataLoader settings.
        dataset_options: further keyword arguments for ``tensorrnn.data.build_dataset``
            (``progress``, ``max_bad_fraction``, ...); an unknown key, or one set by an
            argument above (``size``, ``num_frames``, ...), is a ``ValueError``.
    """

    def __init__(
        self,
        dataset: str = "ucf11",
        root: Optional[str] = None,
        split: str = "tt_rnn",
        fold: int = 0,
        num_folds: int = 5,
        num_frames: int = FRAMES_PER_CLIP,
        size: list[int] = list(UCF11_FRAME_SIZE),
        sampling: str = "random",
        eval_sampling: str = "random",
        stride: int = 1,
        pad: str = "front",
        scaling: str = "center",
        features: bool = False,
        cache_dir: Optional[str] = None,
        split_seed: Optional[int] = None,
        eval_seed: int = 0,
        val_fraction: float = 0.0,
        batch_size: int = 16,
        num_workers: int = 0,
        dataset_options: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__()
        if root is None:
            raise ValueError(f"data.root=None: expected the {dataset} folder (--data.root DIR)")
        if not Path(root).is_dir():
            raise FileNotFoundError(f"data.root={root!r}: no such directory; expected the {dataset} folder")
        if cache_dir is not None and Path(cache_dir).exists() and not Path(cache_dir).is_dir():
            raise NotADirectoryError(f"data.cache_dir={cache_dir!r}: exists and is not a directory")
        for name, value, low in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0),
                                 ("num_frames", num_frames, 1), ("fold", fold, 0), ("num_folds", num_folds, 2)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"data.{name}={value!r}: expected an integer >= {low}")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"data.val_fraction={val_fraction!r}: expected 0 <= value < 1")
        size = _check_size(size)
        dataset_options = dict(dataset_options or {})
        dataset = _check_dataset(dataset, split, dataset_options)
        self.save_hyperparameters()
        self._full = None
        self._splits: dict[str, Dataset] = {}

    # --- the dataset and its properties (read lazily: the CLI links them into the model) ----

    def dataset_kwargs(self, sampling: str | None = None) -> dict[str, Any]:
        """Keyword arguments of ``tensorrnn.data.build_dataset`` for these options."""
        hp = self.hparams
        # seed=None: training frames come from torch's global generator, which Lightning's
        # seed_everything seeds and the DataLoader re-seeds per worker and per epoch.
        kwargs = dict(num_frames=hp.num_frames, size=tuple(hp.size), sampling=sampling or hp.sampling,
                      stride=hp.stride, pad=hp.pad, scaling=hp.scaling, cache_dir=hp.cache_dir,
                      features=hp.features, seed=None)
        if hp.split == "official":  # every clip, with its official role (train / test)
            kwargs["subset"] = "all"
            if hp.dataset in THREE_OFFICIAL_SPLITS:
                kwargs["split"] = hp.fold + 1
        kwargs.update(hp.dataset_options or {})
        return kwargs

    def eval_dataset(self, dataset):
        """A copy of ``dataset`` that samples with ``eval_sampling`` and a fixed seed, so an
        evaluation clip gets the same frames every epoch (and in ``predict``)."""
        evaluation = dataset.subset(range(len(dataset)))
        evaluation.sampling, evaluation.seed = self.hparams.eval_sampling, self.hparams.eval_seed
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
    def num_folds(self) -> int:
        from tensorrnn.data import splits

        if self.hparams.split == "official" and self.hparams.dataset in THREE_OFFICIAL_SPLITS:
            return 3
        return splits.num_splits(self.full, self.hparams.split, num_folds=self.hparams.num_folds)

    # --- splits and loaders -------------------------------------------------------------------

    def _indices(self) -> tuple[list[int], list[int]]:
        from tensorrnn.data import splits

        hp = self.hparams
        fold = 0 if hp.split == "official" else hp.fold  # official: the fold chose the files
        train, test = splits.make_split(self.full, hp.split, fold=fold, num_folds=hp.num_folds,
                                        seed=hp.split_seed)
        return [int(i) for i in train], [int(i) for i in test]

    def setup(self, stage: str | None = None) -> None:
        if self._splits:
            return
        train, test = self._indices()
        evaluation = self.eval_dataset(self.full)
        if self.hparams.val_fraction > 0:
            generator = torch.Generator().manual_seed(self.hparams.eval_seed)
            order = torch.randperm(len(train), generator=generator).tolist()
            n_val = max(1, math.floor(len(train) * self.hparams.val_fraction))
            val = [train[i] for i in sorted(order[:n_val])]
            train = [train[i] for i in sorted(order[n_val:])]
        else:
            val = test
        if not train:  # Lightning's sampler would fail later with a message naming no option
            hp = self.hparams
            raise ValueError(f"data.split={hp.split!r}, data.fold={hp.fold}, data.val_fraction={hp.val_fraction} leave "
                             f"no training clips (0 of {len(self.full)}); expected a split that trains on some clips")
        self._splits = {"train": self.full.subset(train), "val": evaluation.subset(val),
                        "test": evaluation.subset(test)}

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        hp = self.hparams
        return DataLoader(self._splits[name], batch_size=hp.batch_size, shuffle=shuffle,
                          num_workers=hp.num_workers, persistent_workers=hp.num_workers > 0,
                          drop_last=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def split_sizes(self) -> dict[str, int]:
        self.setup()
        return {name: len(ds) for name, ds in self._splits.items()}
