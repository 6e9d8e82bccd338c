"""Training curves as a static PNG, which ``dvc plots show`` embeds as an image plot: it
renders with no internet (DVC's interactive plots load their chart library from a CDN).

Each loss gets its own axes: ``loss_g`` (~lambda_pix x pixel loss, e.g. 7) would flatten
``loss_pix`` (~0.07) and the GAN losses (~0.7) on a shared scale.
"""

from __future__ import annotations

from pathlib import Path

from deblurflow import atomic

#: (title, history columns) per panel, in a 2 x 3 grid
PANELS = (
    ("generator loss", ("loss_g",)),
    ("pixel loss", ("loss_pix",)),
    ("GAN losses", ("loss_d", "loss_adv")),
    ("validation PSNR (dB)", ("val_psnr", "val_psnr_input")),
    ("validation SSIM", ("val_ssim",)),
    ("validation L1", ("val_l1",)),
)


def plot_history(history: list[dict[str, float]], path: str | Path) -> None:
    """Write the per-epoch curves of ``history`` (rows of train_history.csv) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in a DVC stage or a test
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6), constrained_layout=True)
    try:
        for ax, (title, keys) in zip(axes.flat, PANELS):
            for key in keys:
                values = [row.get(key) for row in history]
                if any(v is not None for v in values):
                    label = "blurred input" if key == "val_psnr_input" else key
                    ax.plot(epochs, values, marker="o", markersize=3, label=label)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            if len(keys) > 1:
                ax.legend(fontsize=8)
        with atomic.atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=80)
    finally:
        plt.close(fig)
