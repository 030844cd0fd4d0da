"""Deployment: trained models outside the training loop.

``timeline`` classifies a video of any length, or a live stream, window by window with constant
memory (``tensorrnn predict --timeline``). The package sits beside ``tensorrnn.train``: it uses
``nn`` and ``data``, and nothing below it imports it.
"""
