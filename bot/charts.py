"""A question's counts as a calm, printable PNG bar chart (matplotlib, Agg, no pyplot).

One colour, the answers in the question's order top to bottom, each bar labelled with its
count and percentage in the report's language; long labels wrapped, never cut. Matplotlib
(3.11 and later) shapes Arabic labels, but draws the chart itself left to right in every
language: a right-to-left report says so, and the table under each chart gives the figures.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass

from bot.i18n import _, fmt_number, fmt_percent, use_language

MAX_BARS = 20
"""More answers than this (municipalities): the most given; the table has every one."""
COLOUR = "#2b6cb0"
BIDI_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u061c\u202a\u202b\u202c\u2066\u2067\u2069"))
"""Direction marks Babel puts in numbers: matplotlib would draw them as empty boxes."""


@dataclass
class Chart:
    """A question's counts as a PNG bar chart."""

    title: str
    png: bytes


def bar_chart(
    title: str, labels: list[str], counts: Mapping[str, int], n: int, lang: str
) -> Chart:
    """The chart of ``counts`` in the order of ``labels`` (percentages of ``n``)."""
    # Figures made directly, not through pyplot: no global state, so safe in a thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if len(labels) > MAX_BARS:
        labels = sorted(labels, key=lambda label: -counts.get(label, 0))[:MAX_BARS]
    shown = ["\n".join(textwrap.wrap(label, 32)) or " " for label in labels]
    values = [counts.get(label, 0) for label in labels]
    lines = sum(label.count("\n") + 1 for label in shown)
    figure = Figure(figsize=(7.2, 0.3 * lines + 0.22 * len(labels) + 0.9), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    positions = list(range(len(labels)))[::-1]
    axes.barh(positions, values, color=COLOUR, height=0.6)
    axes.set_yticks(positions, shown, fontsize=10)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.tick_params(axis="x", labelsize=9, colors="#555555")
    axes.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.spines["left"].set_color("#999999")
    axes.spines["bottom"].set_color("#999999")
    axes.grid(axis="x", color="#e2e2e2", linewidth=0.8)
    axes.set_axisbelow(True)
    top = max(values, default=0)
    axes.set_xlim(0, max(top * 1.3, 1))
    with use_language(lang):
        for y, value in zip(positions, values, strict=True):
            text = fmt_number(value)
            if n:
                text += f" ({fmt_percent(value / n)})"
            axes.text(
                value + top * 0.015,
                y,
                text.translate(BIDI_MARKS),
                va="center",
                fontsize=9,
                color="#333333",
            )
        # Translators: the x axis of a chart; n is the number who answered the question.
        axes.set_xlabel(
            _("Count (n = {n})").format(n=fmt_number(n)).translate(BIDI_MARKS), fontsize=9
        )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return Chart(title, buffer.getvalue())
