"""The opening of the small static SVG charts the reports draw (needle heat map, timing plots):
a sized canvas, a title for screen readers and a bold heading, on white."""

from __future__ import annotations

from html import escape

__all__ = ["svg_open"]


def svg_open(title: str, width: float, height: float) -> list[str]:
    """The first lines of an SVG document; the caller appends its shapes and ``</svg>``."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
