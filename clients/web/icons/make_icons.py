"""Draw the app's PNG icons (any, maskable, apple-touch) with Pillow: `python make_icons.py`.

The icons are committed; run this again only to change them.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
BRAND = (15, 118, 110)
GOLD = (251, 191, 36)
WHITE = (255, 255, 255)


def draw(size: int, *, safe: float) -> Image.Image:
    """A teal tile with a gold coin and a white 'M'; `safe` is the share of the tile the
    mark may use (maskable icons keep it inside the central 80% circle)."""
    img = Image.new("RGB", (size, size), BRAND)
    d = ImageDraw.Draw(img)
    r = size * safe / 2
    c = size / 2
    d.ellipse((c - r, c - r, c + r, c + r), fill=GOLD)
    w = r * 1.1
    h = r * 0.9
    top, bottom = c - h / 2, c + h / 2
    left, right = c - w / 2, c + w / 2
    stroke = max(2, int(r * 0.2))
    d.line([(left, bottom), (left, top), (c, c + h * 0.15), (right, top), (right, bottom)],
           fill=BRAND, width=stroke, joint="curve")
    return img


def main() -> None:
    draw(192, safe=0.78).save(HERE / "icon-192.png", optimize=True)
    draw(512, safe=0.78).save(HERE / "icon-512.png", optimize=True)
    draw(512, safe=0.56).save(HERE / "icon-maskable-512.png", optimize=True)
    draw(180, safe=0.7).save(HERE / "apple-touch-icon.png", optimize=True)


if __name__ == "__main__":
    main()
