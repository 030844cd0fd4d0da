"""Deployment: trained models outside the training loop.

``export.py``: ``tensorrnn export`` (ONNX or a ``torch.export`` program, optional per-frame
step graph and int8), verified on real clips; ``graphs.py``: the exported modules;
``timeline.py``: a video of any length, or a live stream, classified window by window with
constant memory (``tensorrnn predict --timeline``). This package uses ``nn``, ``data`` and
``train``; nothing below imports it (``train.predict`` reaches ``timeline`` lazily for
``--timeline``).
"""
