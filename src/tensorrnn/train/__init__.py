"""tensorrnn.train: the Lightning application (``tensorrnn fit | validate | test | cv | demo``).

- :class:`VideoClassifier` (``module.py``): the LightningModule, built from plain values.
- :class:`VideoDataModule` (``datamodule.py``): a ``tensorrnn.data`` dataset, split and loaders.
- ``cli.py``: LightningCLI commands; ``demo.py``, ``plots.py``,
  ``checkpoint.py`` (atomic writes, safe loads, one-line errors; ``load_model``, which
  ``tensorrnn predict`` and ``export`` in ``deploy`` read a checkpoint with).
"""
from tensorrnn.train.datamodule import VideoDataModule
from tensorrnn.train.module import NonFiniteLossError, VideoClassifier

__all__ = ["NonFiniteLossError", "VideoClassifier", "VideoDataModule"]
