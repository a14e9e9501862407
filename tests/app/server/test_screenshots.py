"""`python -m app.server.screenshots` on the tiny dataset: a real server, a real Chromium, one PNG per
view that is not blank, a contact sheet linking them all, and no server left running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from browser import needs_chromium

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.e2e
@pytest.mark.slow
@needs_chromium
def test_screenshots_command_writes_every_view(model_env, tmp_path, monkeypatch):
    out = tmp_path / "shots"
    tour = tmp_path / "tour.toml"
    tour.write_text("".join(f'[[stop]]\ncase = "{c}"\ntitle = "Stop {c}"\npoint = "Look at {c}."\n\n'
                            for c in ("case000", "case002", "case003")))
    monkeypatch.setenv("ECLIP_TOUR", str(tour))
    done = subprocess.run(
        [sys.executable, "-m", "app.server.screenshots", "--out", str(out),
         "--data", str(model_env["data"]), "--checkpoint", str(model_env["checkpoint"]),
         "--cases", "case002", "--draft-backend", "retrieval", "--timeout", "120"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "No runtime found" not in done.stderr  # the tool imports no cached page code of the app
    shots = sorted(out.glob("*.png"))
    names = {p.stem for p in shots}
    for view in ("case-browser-case002", "embeddings", "zero-shot-case002", "retrieval-case002",
                 "model-vs-gaze-case002", "draft-report-case002", "admin--training",
                 "presenter-1", "presenter-2", "presenter-3", "case-report",
                 "presenter-1280x720", "presenter-1920x1080"):  # the room's, in full screen
        assert view in names, names
    report = (out / "case-report.html").read_text()  # the Presenter's export, as downloaded
    assert "case000" in report and "draft — not a diagnosis" in report
    for png in shots:
        grey = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
        assert grey.std() > 3.0, f"{png.name} is blank"
    sheet = (out / "index.html").read_text()
    assert all(f'src="{p.name}"' in sheet for p in shots)
    assert "case002" in sheet


def test_blank_detection(tmp_path):
    from app.server.screenshots import is_blank

    Image.new("RGB", (64, 64), "white").save(tmp_path / "white.png")
    noisy = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "drawn.png")
    assert is_blank(tmp_path / "white.png")
    assert not is_blank(tmp_path / "drawn.png")


def test_help_and_missing_dataset(tmp_path):
    done = subprocess.run([sys.executable, "-m", "app.server.screenshots", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--compare" in done.stdout
    done = subprocess.run([sys.executable, "-m", "app.server.screenshots", "--out", str(tmp_path / "o"),
                           "--data", str(tmp_path / "nothing")], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "build-demo" in done.stderr


def test_readme_copies_are_one_screen_in_a_palette(tmp_path):
    from app.server.screenshots import shrink

    rng = np.random.default_rng(0)
    tall = (rng.random((2400, 1280, 3)) * 255).astype(np.uint8)
    path = tmp_path / "view.png"
    Image.fromarray(tall).save(path)
    before = path.stat().st_size
    shrink(path, 1000, 96)
    with Image.open(path) as im:
        assert im.size == (1280, 1000) and im.mode == "P" and len(im.getcolors(256) or []) <= 96
    assert path.stat().st_size < before / 2


def test_compare_names_the_sidebar_entry_or_is_refused(tmp_path):
    from app.server.screenshots import compare_option
    from eclip.errors import ConfigError

    assert compare_option(REPO / "checkpoints" / "demo-clip") == "checkpoints/demo-clip"
    # a folder the sidebar does not list: picking "demo-clip" by name would shoot the shipped one
    for elsewhere in (tmp_path / "demo-clip", REPO / "runs" / "my-run" / "final"):
        with pytest.raises(ConfigError, match="lists the folders under checkpoints/ only"):
            compare_option(elsewhere)
    done = subprocess.run([sys.executable, "-m", "app.server.screenshots", "--out", str(tmp_path / "o"),
                           "--data", str(tmp_path / "nothing"), "--compare", str(tmp_path / "demo-clip")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "copy or link this checkpoint into checkpoints/" in done.stderr
