"""Deployment: trained models outside the training loop.

``predict.py``: ``tensorrnn predict``, video files classified with a checkpoint, or with
``--timeline`` one long video or a stream; ``export.py``: ``tensorrnn export`` (ONNX or a
``torch.export`` program, optional per-frame step graph and int8), verified on real clips;
``graphs.py``: the exported modules; ``timeline.py``: a video of any length, or a live stream,
classified window by window with constant memory. This package uses ``nn``, ``data`` and
``train`` (a checkpoint is read by ``train.checkpoint.load_model``); nothing below imports it.
"""
