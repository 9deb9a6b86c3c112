"""Plot helpers shared by the labs. Each takes ``ax=None`` (or makes its own figure), draws, and returns what it
drew so tests can inspect it. matplotlib is imported inside the functions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _axes(ax=None):
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.gca()


def _grid(n: int, ncols: int | None, size: float):
    import matplotlib.pyplot as plt

    ncols = max(1, min(n, ncols or n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    return fig, axes.ravel()


def show_image(image, title: str | None = None, ax=None, cmap: str | None = None, vmin=None, vmax=None,
               colorbar: bool = False):
    """Show one image (H×W gray or H×W×3 colour) without axis ticks; returns the axes."""
    ax = _axes(ax)
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2 and cmap is None:
        cmap = "gray"
    shown = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def show_images(images: Sequence, titles: Sequence[str] | None = None, ncols: int | None = None,
                size: float = 2.5, cmap: str | None = None, suptitle: str | None = None, vmin=None, vmax=None,
                colorbar: bool = False):
    """Show several images in a grid (one row unless `ncols` is given), each with a colour bar if `colorbar`;
    returns the figure."""
    images = list(images)
    fig, axes = _grid(len(images), ncols, size)
    for i, ax in enumerate(axes):
        if i < len(images):
            show_image(images[i], title=titles[i] if titles else None, ax=ax, cmap=cmap, vmin=vmin, vmax=vmax,
                       colorbar=colorbar)
        else:
            ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_pixel_values(block, ax=None, title: str | None = None, fmt: str = "{:.0f}", cmap: str = "gray",
                      vmin: float = 0, vmax: float = 255, highlight: tuple[int, int] | None = None):
    """Show a small block of pixels both as shades and as the numbers the computer sees; returns the axes."""
    ax = _axes(ax)
    block = np.asarray(block)
    ax.imshow(block, cmap=cmap, vmin=vmin, vmax=vmax)
    mid = (vmin + vmax) / 2
    for (row, col), value in np.ndenumerate(block):
        color = "black" if value > mid else "white"
        ax.text(col, row, fmt.format(value), ha="center", va="center", fontsize=7, color=color)
    if highlight is not None:
        import matplotlib.patches as patches

        row, col = highlight
        ax.add_patch(patches.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    ax.set_xticks(range(block.shape[1]))
    ax.set_yticks(range(block.shape[0]))
    ax.tick_params(labelsize=6)
    if title:
        ax.set_title(title)
    return ax


def show_channels(image, names: Sequence[str] = ("red", "green", "blue"), size: float = 3.0):
    """Show an RGB image beside its three channels, each as a gray image; returns the figure."""
    image = np.asarray(image)
    panels = [image] + [image[..., i] for i in range(image.shape[-1])]
    titles = ["RGB"] + [f"{name} channel" for name in names[: image.shape[-1]]]
    return show_images(panels, titles, size=size)


def bar_chart(values: dict, ax=None, title: str | None = None, ylabel: str | None = None,
              errors: dict | None = None, ylim: tuple[float, float] | None = None, fmt: str = "{:.2f}"):
    """Bars labelled with their values (e.g. accuracy per group); returns the axes."""
    ax = _axes(ax)
    names = list(values)
    heights = [float(values[n]) for n in names]
    yerr = [float(errors[n]) for n in names] if errors else None
    bars = ax.bar(names, heights, yerr=yerr, capsize=4 if yerr else 0, color="tab:blue")
    for bar, height in zip(bars, heights, strict=True):
        ax.annotate(fmt.format(height), (bar.get_x() + bar.get_width() / 2, height), ha="center", va="bottom",
                    fontsize=8, xytext=(0, 2), textcoords="offset points")
    if ylim:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    if ylabel:
        ax.set_ylabel(ylabel)
    return ax


def line_plot(series: dict, ax=None, title: str | None = None, xlabel: str | None = None,
              ylabel: str | None = None, x: Sequence | None = None, logy: bool = False, marker: str = "o"):
    """One line per named series (e.g. training curves, accuracy vs shift); returns the axes."""
    ax = _axes(ax)
    for name, ys in series.items():
        xs = list(x) if x is not None else list(range(1, len(ys) + 1))
        ax.plot(xs, list(ys), marker=marker, label=name)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return ax


def draw_boxes(ax, boxes, labels: Sequence[str] | None = None, color: str = "red", linewidth: float = 2.0):
    """Draw (x1, y1, x2, y2) boxes (pixel coordinates, x2/y2 exclusive) on an image's axes; returns the patches."""
    import matplotlib.patches as patches

    drawn = []
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=float).reshape(-1, 4)):
        rect = patches.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=color,
                                 linewidth=linewidth)
        ax.add_patch(rect)
        drawn.append(rect)
        if labels is not None:
            ax.text(x1, y1 - 2, labels[i], color=color, fontsize=8, va="bottom")
    return drawn


def show_confusion_matrix(matrix, ax=None, title: str | None = None, class_names: Sequence[str] | None = None,
                          cmap: str = "Blues"):
    """A confusion matrix as shaded cells with their counts; rows are true labels, columns predictions.
    Returns the axes."""
    ax = _axes(ax)
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    names = [str(c) for c in (class_names if class_names is not None else range(n))]
    ax.imshow(matrix, cmap=cmap)
    high = matrix.max() if matrix.size else 0
    for (row, col), value in np.ndenumerate(matrix):
        if value:
            ax.text(col, row, f"{value:g}", ha="center", va="center", fontsize=7,
                    color="white" if value > high / 2 else "black")
    ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    if title:
        ax.set_title(title)
    return ax


def overlay_mask(image, mask, ax=None, alpha: float = 0.6, num_classes: int | None = None,
                 title: str | None = None, colours=None, outline: bool = True):
    """Show an image with a label mask (H×W of class ids) drawn over it in one colour per class — by default
    `shapes.class_colours`, the colours `shapes.mask_to_rgb` draws masks in — each class region also outlined in
    its colour so that small shapes stay visible; class 0 (background) stays see-through. Returns the axes."""
    import matplotlib.colors as mcolors

    from .shapes import class_colours

    ax = show_image(image, title=title, ax=ax)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"overlay_mask needs a 2-D mask of class ids; got shape {mask.shape}")
    n = int(num_classes if num_classes is not None else (mask.max() + 1 if mask.size else 1))
    palette = class_colours(max(n, 1)) if colours is None else [mcolors.to_rgb(colours[i % len(colours)])
                                                               for i in range(max(n, 1))]
    rgba = np.zeros((*mask.shape, 4))
    for c in range(1, n):
        rgba[mask == c] = (*palette[c], alpha)
    ax.imshow(rgba, interpolation="nearest")
    if outline:
        for c in range(1, n):
            if np.any(mask == c):
                ax.contour((mask == c).astype(float), levels=[0.5], colors=[tuple(palette[c])], linewidths=1.5)
    return ax


def class_legend(fig, class_names: Sequence[str], colours=None, skip_background: bool = True):
    """One legend for a figure of masks: a colour patch per class (by default `shapes.class_colours`)."""
    from matplotlib.patches import Patch

    from .shapes import class_colours

    colours = class_colours(len(class_names)) if colours is None else colours
    handles = [Patch(color=tuple(colours[i]), label=name) for i, name in enumerate(class_names)
               if not (skip_background and i == 0)]
    fig.subplots_adjust(bottom=max(fig.subplotpars.bottom, 0.12))  # room below the panels
    return fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)


def latent_histogram(values, bins: int = 10, marked=None, rare_below: float = 0.1, ax=None,
                     title: str | None = None, xlabel: str = "latent mean"):
    """Histogram of one latent dimension's means, in the bins `sample_probabilities` uses: bins holding fewer
    faces than `rare_below` × the fullest bin are drawn red (their faces get the largest sampling weights);
    `marked` (bool per value, e.g. the dark faces) is drawn as ticks under the bars. Returns the axes."""
    from matplotlib.patches import Patch

    ax = _axes(ax)
    values = np.asarray(values, dtype=np.float64).ravel()
    counts, edges = np.histogram(values, bins=bins)
    rare = counts < rare_below * counts.max()
    colours = np.where(rare, "tab:red", "tab:gray")
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=colours, edgecolor="white")
    handles = [Patch(color="tab:red", label=f"rare bins (< {rare_below:.0%} of the fullest)")]
    if marked is not None:
        marked = np.asarray(marked, dtype=bool).ravel()
        handles += ax.plot(values[marked], np.zeros(int(marked.sum())), "|", color="k", markersize=14,
                           label="marked faces")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("faces")
    if title:
        ax.set_title(title)
    ax.legend(handles=handles, loc="best")
    return ax
