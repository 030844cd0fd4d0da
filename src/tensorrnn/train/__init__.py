"""tensorrnn.train: the Lightning application (``tensorrnn fit | validate | test | cv | predict | demo``).

- :class:`VideoClassifier` (``module.py``): the LightningModule, built from plain values.
- :class:`VideoDataModule` (``datamodule.py``): a ``tensorrnn.data`` dataset, split and loaders.
- ``cli.py``: LightningCLI commands; ``predict.py``, ``demo.py``, ``plots.py``,
  ``checkpoint.py`` (atomic writes, safe loads, one-line errors).
"""
from tensorrnn.train.datamodule import VideoDataModule
from tensorrnn.train.module import NonFiniteLossError, VideoClassifier

__all__ = ["NonFiniteLossError", "VideoClassifier", "VideoDataModule"]
