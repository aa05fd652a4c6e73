"""QR codes for the checkout page, rendered server-side as inline SVG (no JS library, no CDN)."""

from functools import lru_cache

import segno


@lru_cache(maxsize=1024)
def qr_svg(data: str, *, title: str = "") -> str:
    """An inline <svg> of `data`. Cached: a payment URI never changes and checkout pages are reloaded
    and polled, so the same code is asked for again and again."""
    code = segno.make(data, error="m", micro=False)
    # omitsize: viewBox only, so CSS decides the rendered size.
    return code.svg_inline(scale=4, border=3, omitsize=True, title=title or None, svgclass="qr", lineclass=None)
