"""A contact sheet of demo cases: film + simulated gaze overlay + report snippet.

``python -m eclip.sim.contact_sheet DATASET [--out assets/demo_contact_sheet.png]``
"""

from __future__ import annotations

import argparse
import io
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from eclip.cli import run_command
from eclip.data.manifest import read_manifest

from .mesh import plan_from_mesh


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def heat_colours(hm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8, alpha 0..1) of a heatmap: transparent where cold, red -> yellow hot."""
    v = hm / max(float(hm.max()), 1e-12)
    r = np.clip(v * 2.0, 0, 1)
    g = np.clip(v * 2.0 - 0.6, 0, 1)
    b = np.clip(v * 3.0 - 2.2, 0, 1)
    rgb = (np.stack([r, g, b], -1) * 255).astype(np.uint8)
    return rgb, np.clip(v * 1.4 - 0.15, 0, 0.75)


def tile(root: Path, row, width: int, text_lines: int, font) -> Image.Image:
    img = np.asarray(Image.open(root / row["image_path"]).convert("L"), dtype=np.float32)
    rgb = np.repeat(img[..., None], 3, -1)
    if row["gaze_path"]:
        with np.load(root / row["gaze_path"]) as z:
            hm = z["heatmap"].astype(np.float32)
        col, alpha = heat_colours(hm)
        rgb = rgb * (1 - alpha[..., None]) + col * alpha[..., None]
    if row.get("mask_path"):  # ground truth outlines in cyan
        with np.load(root / row["mask_path"]) as z:
            masks = [z[k] for k in z.files]
        if masks:
            m = np.logical_or.reduce(masks)
            edge = m & ~np.pad(m, 1, mode="edge")[2:, 1:-1] | m & ~np.pad(m, 1, mode="edge")[:-2, 1:-1] \
                | m & ~np.pad(m, 1, mode="edge")[1:-1, 2:] | m & ~np.pad(m, 1, mode="edge")[1:-1, :-2]
            rgb[edge] = (0, 220, 255)
    im = Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).resize((width, width), Image.BILINEAR)
    line_h = font.size + 3 if hasattr(font, "size") else 14
    canvas = Image.new("RGB", (width, width + line_h * text_lines + 8), (18, 18, 18))
    canvas.paste(im, (0, 0))
    d = ImageDraw.Draw(canvas)
    d.text((6, 4), "SIMULATED", fill=(255, 80, 80), font=font)
    text = (row["impression"] or row["findings"]).strip()
    lines = textwrap.wrap(text, width=int(width / (0.55 * line_h))) or ["(no text)"]
    if len(lines) > text_lines - 1:
        lines = lines[: text_lines - 2] + [lines[text_lines - 2][:-3] + "..."]
    for i, ln in enumerate(lines):
        d.text((6, width + 4 + i * line_h), ln, fill=(230, 230, 230), font=font)
    drawn = ", ".join(sorted(_kinds(row))) or "normal film"
    d.text((6, width + 4 + (text_lines - 1) * line_h), f"drawn: {drawn}", fill=(0, 200, 240), font=font)
    return canvas


SHOWCASE = (("cardiomegaly",), ("effusion",), ("pneumothorax",), ("consolidation", "opacity"),
            ("nodule", "granuloma"), ("device",), ("edema", "atelectasis"), ())
# Words that show the report text itself talks about the drawn finding.
KEYWORDS = {"cardiomegaly": ("cardiomegaly", "heart is enlarged", "enlarged heart"),
            "effusion": ("effusion",), "pneumothorax": ("pneumothorax",),
            "consolidation": ("consolidation", "pneumonia", "airspace"),
            "opacity": ("opacit", "airspace", "infiltrate"), "nodule": ("nodule", "mass"),
            "granuloma": ("granuloma",), "device": ("catheter", "pacemaker", "tube", "sternotomy", "line"),
            "edema": ("edema", "congestion"), "atelectasis": ("atelectasis",)}


def _kinds(row) -> set[str]:
    terms = [t for t in row.get("rendered", "").split("; ") if t]
    return {f.kind for f in plan_from_mesh(terms, np.random.default_rng(0)).findings}


def choose_rows(df, n: int):
    """One case per showcase slot (different drawn findings, then a normal film), with
    gaze where the dataset has such a case."""
    rows = [(row, _kinds(row)) for _, row in df.iterrows()]
    chosen, used = [], set()
    for want in SHOWCASE:
        fits = [i for i, (row, kinds) in enumerate(rows) if i not in used
                and ((want and kinds & set(want)) or (not want and not kinds))]
        # Prefer a case with gaze, whose impression names the finding, with few others.
        words = [w for k in want for w in KEYWORDS.get(k, ())]
        fits.sort(key=lambda i: (rows[i][0]["gaze_path"] == "",
                                 not any(w in rows[i][0]["impression"].lower() for w in words)
                                 if words else False, len(rows[i][1])))
        if fits:
            chosen.append(rows[fits[0]][0])
            used.add(fits[0])
    for i, (row, _) in enumerate(rows):  # fill up if some finding was absent
        if len(chosen) >= n:
            break
        if i not in used and row["gaze_path"]:
            chosen.append(row)
            used.add(i)
    return chosen[:n]


def make_contact_sheet(root, out_png, n: int = 8, cols: int = 4, width: int = 300) -> Path:
    root, out_png = Path(root), Path(out_png)
    df = read_manifest(root)
    rows = choose_rows(df, n)
    font = _font(13)
    tiles = [tile(root, r, width, 5, font) for r in rows]
    rws = (len(tiles) + cols - 1) // cols
    header = 34
    th = tiles[0].height
    sheet = Image.new("RGB", (cols * width + (cols + 1) * 6, header + rws * (th + 6)), (0, 0, 0))
    ImageDraw.Draw(sheet).text(
        (8, 8), "eCLIP demo corpus - SIMULATED radiographs and gaze (heat), ground-truth outlines "
        "(cyan), real Open-I report text", fill=(255, 255, 255), font=_font(15))
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet.paste(t, (6 + c * (width + 6), header + r * (th + 6)))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    out_png.write_bytes(buf.getvalue())
    return out_png


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Contact sheet of a demo dataset (simulated films + gaze).")
    p.add_argument("dataset", type=Path)
    p.add_argument("--out", type=Path, default=Path("assets/demo_contact_sheet.png"))
    p.add_argument("--n", type=int, default=8)
    args = p.parse_args(argv)
    return run_command(lambda: print(make_contact_sheet(args.dataset, args.out, n=args.n)))


if __name__ == "__main__":
    sys.exit(main())
