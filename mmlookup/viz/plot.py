"""Accuracy (or CIDEr) against GMACs and against throughput, and the same data as a markdown table.

One colour per encoder, one marker per point (grid / keep rate / budget), points of one run joined by a line
(a LookupViT checkpoint evaluated at several compressed grids is one curve). A point with a ``std`` (a mean over
seeds) gets an error bar of that size.
"""
from __future__ import annotations

from pathlib import Path

from mmlookup.viz.deps import pyplot
from mmlookup.viz.runs import Point

MARKERS = "osD^v<>PX*h"


def markdown_table(points: list[Point]) -> str:
    """A GitHub markdown table of the points, in the given order."""
    metric = points[0].metric if len({p.metric for p in points}) == 1 else "score"
    header = ["run", "encoder", "setting", metric, "GFLOPs (GMACs)/view", "clips/s", "evaluated"]
    rows = [[Path(p.run).name, p.encoder, p.setting or "-", f"{p.value:.2f}" if p.value > 1.5 else f"{p.value:.3f}",
             "n/a" if p.gmacs is None else f"{p.gmacs:.4g}",
             "n/a" if p.clips_per_s is None else f"{p.clips_per_s:.1f}", str(p.samples)] for p in points]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def plot_points(points: list[Point], out: str | Path, *, title: str = "", throughput_note: str = "",
                dpi: int = 110, front: list[Point] | None = None) -> Path:
    """Draw the accuracy–GMACs panel (and the accuracy–throughput panel when throughput is known) to ``out``;
    ``front`` (the Pareto-optimal points) is joined by a dashed staircase on the GMACs panel.

    Raises:
        ValueError: when there is nothing to plot.
    """
    if not points:
        raise ValueError("no points to plot")
    plt = pyplot()
    with_speed = any(p.clips_per_s is not None for p in points)
    fig, axes = plt.subplots(1, 2 if with_speed else 1, figsize=(10.5 if with_speed else 5.8, 4.2), squeeze=False)
    panels = [(axes[0][0], "gmacs", "GFLOPs per view (GMACs)")]
    if with_speed:
        panels.append((axes[0][1], "clips_per_s", "throughput (clips/s)"))
    colours = _colours(plt, points)
    labels = [p.label for p in points]
    if len(set(labels)) < len(labels):                                     # same encoder and setting in two runs
        labels = [f"{p.label} ({Path(p.run).name})" for p in points]
    for ax, key, xlabel in panels:
        for run in dict.fromkeys(p.run for p in points):
            line = [p for p in points if p.run == run and getattr(p, key) is not None]
            line.sort(key=lambda p: getattr(p, key))
            if len(line) > 1:
                ax.plot([getattr(p, key) for p in line], [p.value for p in line], "-", lw=1,
                        color=colours[line[0].encoder], alpha=0.5)
        for i, p in enumerate(points):
            x = getattr(p, key)
            if x is None:
                continue
            if p.std is not None:  # mean over seeds: the bar is the spread
                ax.errorbar([x], [p.value], yerr=[p.std], fmt="none", ecolor=colours[p.encoder], elinewidth=1.2,
                            capsize=3)
            ax.plot([x], [p.value], MARKERS[i % len(MARKERS)], color=colours[p.encoder], ms=8, label=labels[i],
                    markeredgecolor="black", markeredgewidth=0.6)
        if front and key == "gmacs":
            steps = sorted((p.gmacs, p.value) for p in front if p.gmacs is not None)
            ax.step([x for x, _ in steps], [y for _, y in steps], where="post", color="black", ls="--", lw=1,
                    alpha=0.7, label="Pareto front")
        chance = {p.chance for p in points}
        if len(chance) == 1 and None not in chance:
            ax.axhline(chance.pop(), color="grey", ls="--", lw=1, label="chance")
        _x_axis(ax, [getattr(p, key) for p in points if getattr(p, key) is not None])
        ax.set_xlabel(xlabel + (", log scale" if ax.get_xscale() == "log" else ""))
        ax.set_ylabel(points[0].metric if len({p.metric for p in points}) == 1 else "score")
        ax.grid(True, which="both", alpha=0.3)
    if with_speed and throughput_note:
        axes[0][1].set_title(throughput_note, fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(plt, fig, out, dpi)


def save_figure(plt, fig, out: str | Path, dpi: int) -> Path:
    """Lay out ``fig``, write it to ``out`` (folders made), close it; return the path."""
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return out


def _x_axis(ax, xs: list[float]) -> None:
    """Log scale when the values span more than a decade, else linear; plain number labels either way."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    if xs and min(xs) > 0 and max(xs) / min(xs) > 10:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _colours(plt, points: list[Point]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {enc: cmap(i % 10) for i, enc in enumerate(dict.fromkeys(p.encoder for p in points))}
