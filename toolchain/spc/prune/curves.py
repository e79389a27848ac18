"""The pruning curves: validation accuracy against layers removed, one line per order, the target line."""

from __future__ import annotations

from pathlib import Path

from ..plotting import finish_axes, pyplot, save_png


def curves_figure(result, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 4.2), dpi=110)
    healed = result.heal != "none"
    for r in result.orders:
        x = list(range(len(r.val_curve)))
        if r.baseline:
            ax.plot(x, r.val_curve, color="0.6", lw=1, ls="--", label="random" if r.name.endswith("s0") else None)
            continue
        label = r.name + (" (best)" if r.name == result.best else "")
        line = ax.plot(x, r.val_curve, marker="o", ms=3, lw=1.0 if healed else 1.6, ls=":" if healed else "-",
                       label=label + (", no heal" if healed else ""))[0]
        if healed:
            pts = [(i, a) for i, a in enumerate(r.healed_curve) if a is not None]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="s", ms=3, lw=1.8, color=line.get_color(),
                    label=f"{label}, {result.heal} heal")
    ax.axhline(result.target_val_accuracy, color="red", lw=1, ls=":",
               label=f"target {result.config['retention']:.0%} of {result.baseline_val_accuracy:.3f}")
    ax.set_xlabel("transformer layers removed")
    how = f"healed ({result.heal}) and without retraining" if healed else "without retraining"
    ax.set_title(f"Pruning {how} ({result.n_layers} layers)", fontsize=10)
    finish_axes(ax)
    return save_png(fig, path)
