"""matplotlib without a display: every figure spc writes is a PNG file."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend, imported only when a figure is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
