"""matplotlib without a display: every figure spc writes is a PNG file."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend, imported only when a figure is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def finish_axes(ax, *, ylabel: str = "validation accuracy", legend_loc: str = "lower left", legend_size: int = 7) -> None:
    """The accuracy-plot conventions every spc figure shares: 0-1 y axis, a legend, a light grid."""
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=legend_size, loc=legend_loc)
    ax.grid(alpha=0.3)


def save_png(fig, path):
    """Lay out, write and close a figure; returns its path."""
    fig.tight_layout()
    fig.savefig(path)
    fig.clf()
    pyplot().close(fig)
    return path
