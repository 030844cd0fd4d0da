"""Figures: a matplotlib figure rendered as PNG and written atomically (the plots of ``train``,
``deploy`` and ``experiments``, and the benchmarks'). Any layer may import it; matplotlib is
imported when a figure is saved, not here.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

from tensorrnn.files import atomic_write_bytes

__all__ = ["save_figure"]


def save_figure(fig, path: str | os.PathLike, dpi: int = 120, **savefig_kwargs) -> Path:
    """Render a matplotlib figure as PNG, write it atomically and close the figure."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, **savefig_kwargs)
    finally:
        plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
