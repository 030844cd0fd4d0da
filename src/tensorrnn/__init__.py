"""tensorrnn: tensor-train, tensor-ring and block-term recurrent networks on PyTorch."""

__version__ = "0.1.0"
