"""Tiny real models (random init, saved and re-loaded through the checkpoint API), and the
tiny dataset with finding masks."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from eclip.config import Config, to_dict
from eclip.data.manifest import read_manifest, save_array_npz, write_manifest
from eclip.model import build_model, load_model, save_model
from tiny_towers import cnn_arch


def make_lm(root, arch: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model({"arch": arch})
    cfg = to_dict(Config())
    cfg["model"]["arch"] = arch
    save_model(root, model, cfg, dtype="float32")
    return load_model(root)


@pytest.fixture(scope="session")
def vit_lm(tmp_path_factory):
    return make_lm(tmp_path_factory.mktemp("vit_micro"), "eclip-vit-micro")


@pytest.fixture(scope="session")
def rn_lm(tmp_path_factory):
    return make_lm(tmp_path_factory.mktemp("rn_tiny"), "eclip-rn-tiny")


@pytest.fixture(scope="session")
def cnn_lm(tmp_path_factory):
    """A timm CNN tower whose average-pooled 4 x 4 feature map plays the patch tokens."""
    folder = tmp_path_factory.mktemp("cnn_micro")
    return make_lm(folder / "ckpt", cnn_arch(folder))


@pytest.fixture(scope="session")
def masked_dataset(tiny_dataset, tmp_path_factory):
    """The tiny dataset with a finding mask on every abnormal case (effusion: the lower band,
    cardiomegaly: the centre blob, exactly where the fixture draws them)."""
    root = tmp_path_factory.mktemp("masked") / "ds"
    shutil.copytree(tiny_dataset, root)
    df = read_manifest(root)
    yy, xx = np.mgrid[0:64, 0:64] / 64
    shapes = {"Pleural Effusion": yy > 0.75, "Cardiomegaly": (xx - 0.5) ** 2 + (yy - 0.6) ** 2 < 0.02}
    paths = []
    for _, row in df.iterrows():
        label = next((k for k in shapes if row[k] == 1.0), None)
        if label is None:
            paths.append("")
            continue
        (root / "masks").mkdir(exist_ok=True)
        save_array_npz(root / "masks" / f"{row['id']}.npz", **{label: shapes[label]})
        paths.append(f"masks/{row['id']}.npz")
    df["mask_path"] = paths
    write_manifest(df, root)
    return root
