"""A tiny dataset under the manifest contract, for tests (importable as ``tiny_data``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from eclip.data.manifest import LABELS, save_array_npz, write_manifest

_FINDINGS = {
    "Cardiomegaly": "The heart is enlarged. No focal consolidation.",
    "Pleural Effusion": "Small left pleural effusion with blunting of the costophrenic angle.",
    "No Finding": "The lungs are clear. Heart size is normal. No effusion or pneumothorax.",
}


def make_tiny_dataset(root: Path, n: int = 24, size: int = 64, seed: int = 0,
                      gaze_every: int = 2) -> Path:
    """A dataset folder under the manifest contract: grey PNGs, float16 gaze .npz for
    every ``gaze_every``-th row, three classes whose pixels differ (bright centre blob for
    cardiomegaly, bright lower band for effusion)."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "gaze").mkdir(exist_ok=True)
    classes = list(_FINDINGS)
    rows = []
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        cls = classes[i % len(classes)]
        img = 0.3 + 0.1 * rng.standard_normal((size, size))
        if cls == "Cardiomegaly":
            img += 0.5 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.6) ** 2) / 0.03)
        elif cls == "Pleural Effusion":
            img += 0.4 * (yy > 0.75)
        img = np.clip(img, 0, 1)
        rid = f"case{i:03d}"
        Image.fromarray((img * 255).astype(np.uint8), mode="L").save(root / "images" / f"{rid}.png")
        gaze_rel = ""
        if i % gaze_every == 0:
            hm = np.exp(-((xx - 0.5) ** 2 + (yy - 0.6) ** 2) / 0.02).astype(np.float32)
            hm /= hm.sum()
            save_array_npz(root / "gaze" / f"{rid}.npz", heatmap=hm.astype(np.float16))
            gaze_rel = f"gaze/{rid}.npz"
        labels = {lab: (1.0 if lab == cls else (0.0 if lab in _FINDINGS else np.nan)) for lab in LABELS}
        rows.append({
            "id": rid,
            "image_path": f"images/{rid}.png",
            "findings": _FINDINGS[cls],
            "impression": cls if cls != "No Finding" else "No acute disease.",
            "split": ["train", "train", "train", "validate", "test"][i % 5] if n >= 10 else "train",
            "view": "PA",
            "gaze_path": gaze_rel,
            "patient_key": f"p{i // 2:03d}",
            "source": "fixture",
            "simulated": "1",
            **labels,
        })
    write_manifest(pd.DataFrame(rows), root)
    return root
