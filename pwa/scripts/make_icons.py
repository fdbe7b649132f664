"""Draw FieldQ's app icons: a white shield with a blue check mark on a strong blue tile.

Regenerate with:  /work/main/.venv/bin/python pwa/scripts/make_icons.py
The PNGs are committed under pwa/public/icons/, so the PWA build never needs Python.
Everything is drawn at 4x and downscaled with LANCZOS, which antialiases the polygons.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

BLUE = (11, 87, 208, 255)  # #0b57d0, the theme colour in the manifest and CSS
DEEP = (8, 56, 140, 255)  # the shield's outline shadow
WHITE = (255, 255, 255, 255)
SCALE = 4
OUT = Path(__file__).resolve().parent.parent / "public" / "icons"
PUBLIC = OUT.parent


def shield_points(cx: float, top: float, width: float, height: float) -> list[tuple[float, float]]:
    """A heraldic shield: flat shoulders, straight sides, curved flanks meeting at a point."""
    half = width / 2
    shoulder = height * 0.10
    side_end = top + height * 0.46
    bottom = top + height
    points = [(cx, top), (cx + half, top + shoulder), (cx + half, side_end)]
    # right flank: quadratic curve from (cx+half, side_end) to (cx, bottom) via (cx+half, bottom-height*0.2)
    steps = 24
    ctrl = (cx + half * 0.98, top + height * 0.80)
    for i in range(1, steps + 1):
        t = i / steps
        x = (1 - t) ** 2 * (cx + half) + 2 * (1 - t) * t * ctrl[0] + t**2 * cx
        y = (1 - t) ** 2 * side_end + 2 * (1 - t) * t * ctrl[1] + t**2 * bottom
        points.append((x, y))
    left = [(2 * cx - x, y) for x, y in reversed(points[1:-1])]
    return points + left


def check_points(cx: float, cy: float, size: float) -> list[tuple[float, float]]:
    """A bold check mark as one polygon (two thick strokes joined at the elbow)."""
    s = size
    return [
        (cx - 0.50 * s, cy - 0.02 * s),
        (cx - 0.34 * s, cy - 0.18 * s),
        (cx - 0.12 * s, cy + 0.04 * s),
        (cx + 0.34 * s, cy - 0.42 * s),
        (cx + 0.50 * s, cy - 0.26 * s),
        (cx - 0.12 * s, cy + 0.36 * s),
    ]


def draw_logo(size: int, *, maskable: bool, rounded: bool) -> Image.Image:
    big = size * SCALE
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    if rounded and not maskable:
        d.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.22, fill=BLUE)
    else:
        # Maskable icons must fill the square: the platform applies its own mask.
        d.rectangle((0, 0, big, big), fill=BLUE)
    # Maskable icons keep their content inside the central 80% safe zone (radius 40%).
    art = big * (0.56 if maskable else 0.72)
    cx = big / 2
    top = (big - art) / 2 + art * 0.01
    width, height = art * 0.80, art * 0.98
    outline = art * 0.035
    d.polygon(shield_points(cx, top + outline * 1.4, width, height), fill=DEEP)
    d.polygon(shield_points(cx, top, width, height), fill=WHITE)
    d.polygon(check_points(cx, top + height * 0.50, art * 0.52), fill=BLUE)
    return img.resize((size, size), Image.LANCZOS)


def flatten(img: Image.Image, background=WHITE) -> Image.Image:
    """iOS shows transparency as black: the apple-touch-icon gets an opaque background."""
    base = Image.new("RGBA", img.size, background)
    base.alpha_composite(img)
    return base.convert("RGB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    draw_logo(192, maskable=False, rounded=True).save(OUT / "icon-192.png", optimize=True)
    draw_logo(512, maskable=False, rounded=True).save(OUT / "icon-512.png", optimize=True)
    draw_logo(512, maskable=True, rounded=False).save(OUT / "icon-maskable-512.png", optimize=True)
    # iOS rounds the corners itself, so the touch icon is a full square.
    flatten(draw_logo(180, maskable=False, rounded=False)).save(OUT / "apple-touch-icon-180.png", optimize=True)
    favicon = draw_logo(256, maskable=False, rounded=True)
    favicon.resize((32, 32), Image.LANCZOS).save(OUT / "favicon-32.png", optimize=True)
    favicon.save(PUBLIC / "favicon.ico", sizes=[(16, 16), (32, 32), (48, 48)])
    for path in sorted(OUT.iterdir()):
        print(path.relative_to(PUBLIC.parent), Image.open(path).size)
    print("public/favicon.ico")


if __name__ == "__main__":
    main()
