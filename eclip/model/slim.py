"""Re-save a checkpoint with its frozen pretrained text trunk by reference (a smaller file).

    eclip checkpoint slim checkpoints/demo-prior-full checkpoints/demo-prior

The demo's MiniLM trunk is 43 of a checkpoint's 54 MiB (held by value) and identical in every model trained with
``model.lock_text``; the slim copy keeps the trained weights and names the trunk by digest, and
loads only where the same pretrained package is installed. An fp16 source held the trunk rounded
to fp16; the slim copy says so and loading rounds the rebuilt trunk the same way, so it loads bit
for bit as its source and every number measured on the source holds for it (a copy slimmed before
this rounding was recorded loads the exact fp32 trunk). Other files of the folder (the
training-image reference) are copied as they are.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from eclip.errors import ModelError
from eclip.model.checkpoint import CARD, CONFIG, WEIGHTS, load_model, save_model


def slim(src: Path, dst: Path) -> Path:
    if dst.resolve() == src.resolve():
        raise ModelError(f"{dst}: write the slim copy to another folder (the original is kept until you swap them)")
    if dst.exists() and any(dst.iterdir()):
        raise ModelError(f"{dst} exists and is not empty: choose a new folder")
    lm = load_model(src)
    dtype = str(lm.card.get("weights_dtype") or "float16")
    save_model(dst, lm.model, lm.config, card=lm.card, dtype=dtype, text_trunk="reference")
    for f in src.iterdir():
        if f.is_file() and f.name not in (WEIGHTS, CONFIG, CARD):
            shutil.copyfile(f, dst / f.name)
    return dst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="eclip checkpoint slim", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 2)[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path, help="a checkpoint folder (model.safetensors, config.json, card.json)")
    p.add_argument("dst", type=Path, help="a new folder for the slim copy")
    a = p.parse_args(argv)
    try:
        out = slim(a.src, a.dst)
    except ModelError as exc:
        p.exit(2, f"eclip checkpoint slim: {exc}\n")
    before, after = (a.src / WEIGHTS).stat().st_size, (out / WEIGHTS).stat().st_size
    print(f"{out}: {after / 2**20:.1f} MiB of weights (was {before / 2**20:.1f} MiB); the text trunk by reference")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
