"""An inline SVG bar chart of the score histogram (no scripts, no fonts to fetch)."""

from __future__ import annotations

from html import escape

from grader.report.statistics import Bin

WIDTH, HEIGHT, MARGIN = 560, 220, 32


def histogram_svg(bins: list[Bin], title: str = "Students per percentage band") -> str:
    """Bars for `bins`, labelled with the band and the count; scales to its container."""
    peak = max((b.count for b in bins), default=0) or 1
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    bar_w = plot_w / max(len(bins), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="histogram">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" '
        f'y2="{HEIGHT - MARGIN}" stroke="#444"/>',
    ]
    for i, b in enumerate(bins):
        h = plot_h * b.count / peak
        x = MARGIN + i * bar_w
        y = HEIGHT - MARGIN - h
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{bar_w - 4:.1f}" height="{h:.1f}" '
            f'fill="#3b6ea5"><title>{b.label}%: {b.count}</title></rect>'
        )
        if b.count:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                f'font-size="12">{b.count}</text>'
            )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - MARGIN + 14:.1f}" '
            f'text-anchor="middle" font-size="10">{b.label}</text>'
        )
    parts.append(
        f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT - 4}" text-anchor="middle" font-size="11">'
        "percentage of the total</text></svg>"
    )
    return "".join(parts)
