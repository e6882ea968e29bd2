"""The timeline picture of a long video: label bands over time (predicted, and the truth when known), the top
score per window, unreadable stretches hatched, and for a cascade the setting that answered each window.

Colours are ``tab10`` / ``tab20`` per class (one colour per label throughout the picture), as in :mod:`.plot`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmlookup.viz.deps import pyplot
from mmlookup.viz.plot import save_figure


def plot_timeline(result: Any, out: str | Path, *, truth: Any = None, title: str = "", dpi: int = 110) -> Path:
    """Draw ``result`` (a :class:`~mmlookup.inference.timeline.TimelineResult`) to ``out``; ``truth`` (a
    :class:`~mmlookup.inference.longbench.Truth`) adds a band of the true segments."""
    plt = pyplot()
    classes = list(result.classes)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    colour = {c: cmap(i % cmap.N) for i, c in enumerate(classes)}
    bands = [("predicted", [(s.start_s, s.end_s, s.label) for s in result.segments])]
    if truth is not None:
        bands.insert(0, ("truth", [(s.start / truth.fps, s.end / truth.fps, s.label) for s in truth.segments]))
    cascade = result.settings is not None
    rows = 2 + int(cascade)
    fig, axes = plt.subplots(rows, 1, figsize=(11, 1.2 + 0.45 * len(bands) + 1.6 * (rows - 1)), sharex=True,
                             gridspec_kw={"height_ratios": [0.45 * len(bands) + 0.3] + [1.2] * (rows - 1)})
    ax = axes[0]
    for y, (_, segs) in enumerate(reversed(bands)):
        for start, end, label in segs:
            ax.barh(y, end - start, left=start, height=0.8, color=colour.get(label, "lightgrey"), edgecolor="none")
    for u in result.unreadable:
        ax.axvspan(u.start_s, u.end_s, facecolor="white", edgecolor="black", hatch="///", lw=0.5)
    ax.set_yticks(range(len(bands)), [b[0] for b in reversed(bands)])
    ax.set_xlim(0, result.duration_s)
    used = dict.fromkeys(lab for _, segs in bands for *_, lab in segs)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour.get(c, "lightgrey")) for c in used]
    ax.legend(handles, list(used), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    centres = np.array([(a + b) / 2 for a, b in (result.window_range(i) for i in range(len(result.starts)))])
    top = result.probs.max(1).values.numpy() if len(result.starts) else np.zeros(0)
    axes[1].plot(centres, top, "-", lw=1, color="black")
    axes[1].set_ylim(0, 1.02)
    axes[1].set_ylabel("top score")
    axes[1].grid(True, alpha=0.3)
    if cascade:
        names = list(dict.fromkeys(sorted({s for s in result.settings if s},
                                          key=lambda s: result.gmacs[result.settings.index(s)])))
        level = [names.index(s) if s else np.nan for s in result.settings]
        axes[2].step(centres, level, where="mid", lw=1, color="tab:red")
        axes[2].set_yticks(range(len(names)), names)
        axes[2].set_ylabel("setting")
        axes[2].grid(True, alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    smooth = f", smoothed over {result.smooth} windows" if result.smooth > 1 else ""
    fig.suptitle(title or f"{Path(result.path).name}: {len(result.segments)} segments, windows of "
                 f"{result.window} frames every {result.stride}{smooth}", fontsize=10)
    return save_figure(plt, fig, out, dpi)
