"""app/server/warm.py and `python -m app`: the server loads its default dataset, models, index and
typicality reference before it listens, into the caches the pages read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_warm_fills_the_pages_own_caches(model_env):
    from eclip.index.typicality import TYPICALITY_CACHE

    from app.components import loaders
    from app.server import warm

    TYPICALITY_CACHE.clear()
    steps = warm.quietly_warm()
    names = [s.rsplit(" ", 2)[0] for s in steps]
    assert names[:2] == ["dataset info", "manifest"] and "index" in names
    assert "typicality reference" in names and "retrieval calibration" in names and "map" in names
    assert not [s for s in steps if "skipped" in s], steps
    assert len(TYPICALITY_CACHE) == 1
    ck = str(model_env["checkpoint"])
    # the page's call is a cache hit: the very objects the warm-up loaded
    assert loaders.load_model(ck) is loaders.load_model(ck)
    assert loaders.load_index(ck, model_env["data"]) is loaders.load_index(ck, model_env["data"])


def test_a_broken_default_model_is_reported_and_the_warm_up_goes_on(app_env, tmp_path, monkeypatch):
    from app.server import warm

    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "config.json").write_text("{}")
    (bad / "model.safetensors").write_bytes(b"not a safetensors file")
    monkeypatch.setenv("ECLIP_CHECKPOINT", str(bad))
    steps = warm.quietly_warm()
    assert steps[0].startswith("dataset info") and steps[1].startswith("manifest")
    assert len(steps) == 3 and steps[2].startswith("model ") and "skipped" in steps[2]


def test_launcher_help_names_its_options():
    out = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "--no-warm" in out.stdout and "streamlit run" in out.stdout
