"""Deployment: export a trained classifier for devices, and run it on streams.

``export.py``: ``tensorrnn export`` (ONNX or a ``torch.export`` program, optional per-frame
step graph and int8), verified on real clips; ``graphs.py``: the exported modules. This package
uses ``nn``, ``data`` and ``train``; nothing below imports it.
"""
