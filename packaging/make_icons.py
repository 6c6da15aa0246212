"""Draw the sciceapp icon: one geometry, written as SVG and rendered to PNGs and an ICO.

Run from the repository root after changing the drawing:
    python packaging/make_icons.py
It rewrites resources/icons/. The picture: a photo (sky, sun, hills) with a map pin on it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

CANVAS = 256  # geometry units; the SVG viewBox and the largest PNG
PNG_SIZES_PX = (16, 24, 32, 48, 64, 128, 256)
SUPERSAMPLE = 4  # draw big, then shrink: Pillow has no antialiasing of its own

# (kind, colour, geometry) in canvas units, painted in order.
SHAPES: list[tuple[str, str, tuple]] = [
    ("round_rect", "#1d4e63", (8, 8, 248, 248, 44)),  # background tile
    ("round_rect", "#f4f1e8", (36, 52, 204, 196, 14)),  # photo border
    ("rect", "#9fd3e6", (48, 64, 192, 184)),  # sky
    ("circle", "#f6c445", (160, 92, 14)),  # sun
    (
        "polygon",
        "#4f8a4b",
        ((48, 184), (48, 150), (92, 108), (130, 146), (150, 128), (192, 168), (192, 184)),
    ),
    ("polygon", "#2f6b3a", ((48, 184), (80, 160), (120, 176), (160, 158), (192, 184))),
    ("circle", "#d64531", (182, 160, 38)),  # pin head
    ("polygon", "#d64531", ((149, 179), (215, 179), (182, 236))),  # pin point
    ("circle", "#ffffff", (182, 160, 15)),  # pin hole
]


def _svg_shape(kind: str, colour: str, geo: tuple) -> str:
    if kind == "round_rect":
        x0, y0, x1, y1, r = geo
        return f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" rx="{r}" fill="{colour}"/>'
    if kind == "rect":
        x0, y0, x1, y1 = geo
        return f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="{colour}"/>'
    if kind == "circle":
        cx, cy, r = geo
        return f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{colour}"/>'
    points = " ".join(f"{x},{y}" for x, y in geo)
    return f'<polygon points="{points}" fill="{colour}"/>'


def svg_text() -> str:
    """The icon as a standalone SVG document."""
    body = "\n  ".join(_svg_shape(*shape) for shape in SHAPES)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CANVAS}" height="{CANVAS}" '
        f'viewBox="0 0 {CANVAS} {CANVAS}">\n  <title>sciceapp</title>\n  {body}\n</svg>\n'
    )


def render_png(size_px: int) -> Image.Image:
    """The icon as an RGBA image of ``size_px`` x ``size_px``."""
    big_px = size_px * SUPERSAMPLE
    scale = big_px / CANVAS
    image = Image.new("RGBA", (big_px, big_px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for kind, colour, geo in SHAPES:
        if kind == "round_rect":
            x0, y0, x1, y1, r = (v * scale for v in geo)
            draw.rounded_rectangle((x0, y0, x1, y1), radius=r, fill=colour)
        elif kind == "rect":
            draw.rectangle(tuple(v * scale for v in geo), fill=colour)
        elif kind == "circle":
            cx, cy, r = (v * scale for v in geo)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        else:
            draw.polygon([(x * scale, y * scale) for x, y in geo], fill=colour)
    return image.resize((size_px, size_px), Image.Resampling.LANCZOS)


def write_icons(out_dir: Path) -> list[Path]:
    """Write sciceapp.svg, sciceapp-<N>.png for every size and sciceapp.ico into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "sciceapp.svg"]
    written[0].write_text(svg_text(), encoding="utf-8")
    images = {size: render_png(size) for size in PNG_SIZES_PX}
    for size, image in images.items():
        path = out_dir / f"sciceapp-{size}.png"
        image.save(path, optimize=True)
        written.append(path)
    ico = out_dir / "sciceapp.ico"
    images[256].save(ico, sizes=[(s, s) for s in PNG_SIZES_PX])
    written.append(ico)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / "resources" / "icons"
    parser.add_argument("--out", type=Path, default=default, help="folder to write into")
    for path in write_icons(parser.parse_args().out):
        print(path)


if __name__ == "__main__":
    main()
