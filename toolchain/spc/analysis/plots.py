"""PNG figures of an analysis: one heatmap per metric with blocks outlined, and a BI bar chart."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plotting import pyplot as _pyplot
from ..plotting import save_png

TITLES = {
    "cosine": "cosine (flattened clip)", "cosine_frames": "cosine (per frame)",
    "cka": "linear CKA (minibatch, unbiased HSIC)", "cka_batch_biased": "linear CKA (per batch, biased)",
    "mutual_knn": "mutual kNN alignment",
}


def heatmap(matrix, blocks: list[dict], title: str, path: Path) -> Path:
    """Similarity heatmap over hidden states h_0..h_L with each block outlined."""
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    m = np.asarray(matrix)
    n = len(m)
    fig, ax = plt.subplots(figsize=(5.6, 4.8), dpi=110)
    im = ax.imshow(m, cmap="viridis", origin="upper", vmin=min(0.0, float(m.min())), vmax=1.0)
    for b in blocks:
        size = b["end"] - b["start"] + 1
        ax.add_patch(Rectangle((b["start"] - 0.5, b["start"] - 0.5), size, size, fill=False, edgecolor="red", lw=2))
    ticks = list(range(n))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels([str(i) for i in ticks], fontsize=7)
    ax.set_yticklabels([str(i) for i in ticks], fontsize=7)
    ax.set_xlabel("hidden state (0 = stack input, i = output of layer i)")
    ax.set_ylabel("hidden state")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save_png(fig, path)


def bi_chart(bi: dict[str, list[float]], path: Path) -> Path:
    """Block Influence per layer (0-based layer index), both cosine variants side by side."""
    plt = _pyplot()
    n = len(bi["frames"])
    x = np.arange(n)
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=110)
    ax.bar(x - 0.2, bi["frames"], width=0.4, label="per-frame cosine")
    ax.bar(x + 0.2, bi["flat"], width=0.4, label="flattened-clip cosine")
    ax.set_xticks(x)
    ax.set_xlabel("layer (0-based)")
    ax.set_ylabel("Block Influence = 1 - cos(in, out)")
    ax.set_title("Block Influence: low = the layer changes little (pruned first)", fontsize=10)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def write_figures(result, out_dir: Path) -> list[Path]:
    """All figures of an ``AnalysisResult`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, matrix in result.matrices.items():
        paths.append(heatmap(matrix, result.blocks[name]["blocks"], f"{TITLES.get(name, name)}, {result.n_clips} clips",
                             out_dir / f"heatmap_{name}.png"))
    paths.append(bi_chart(result.bi, out_dir / "block_influence.png"))
    return paths


def compare_figure(a, b, metric: str, out_dir: Path) -> Path:
    """Two heatmaps of the same metric side by side (for example pre-trained vs fine-tuned)."""
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), dpi=110)
    for ax, r in zip(axes, (a, b)):
        ax.imshow(np.asarray(r.matrices[metric]), cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"{r.model}", fontsize=9)
        ax.set_xlabel("hidden state")
    fig.suptitle(TITLES.get(metric, metric))
    return save_png(fig, out_dir / f"compare_{metric}.png")
