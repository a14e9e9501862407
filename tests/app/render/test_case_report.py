"""The case report (app/render/case_report.py): what it holds, that every text is escaped, that it
loads nothing from outside itself, its SIMULATED mark, and its PNG rendering; the overlay
PNG's caption band (app/render/overlay.py)."""

from __future__ import annotations

import base64
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.render.case_report import (
    DISCLAIMER_TEXT,
    CaseReport,
    Draft,
    Figure,
    ModelSummary,
    chromium_available,
    to_html,
    to_png,
)
from app.render.overlay import Caption, overlay_png
from eclip.errors import EclipError

FILM = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (64, 1))
HEAT = np.exp(-((np.mgrid[0:64, 0:64] - 32) ** 2).sum(0) / 60).astype(np.float32)


def _report(**kw) -> CaseReport:
    png = overlay_png(FILM, HEAT)
    base = dict(
        case="demo00601", page="Model vs gaze", simulated=True,
        figures=(Figure("demo-eclip: Grad-CAM", png, ("demo-eclip map: Jet colours",), {"cc": 0.58, "kl": 1.2}),
                 Figure("demo-clip: Grad-CAM", png, (), {"cc": -0.12, "kl": 2.5})),
        facts=("split test", "view PA"), reading=(("Findings", "Heart is enlarged."),),
        zero_shot=(("Cardiomegaly", 0.81), ("No Finding", 0.12)),
        draft=Draft("FINDINGS: enlarged heart.", {"conflicts": [{"finding": "Edema", "probability": 0.7,
                                                                   "kind": "denies", "words": "no edema"}],
                                                    "checked": 2}, {"backend": "retrieval", "model": "none"}),
        models=(ModelSummary.from_card("demo-eclip", "active", {"arch": "eclip-vit-tiny-minilm", "steps": 1200,
                                                                 "data_fingerprint": "5aa54f12",
                                                                 "weights_sha256": "abc123def"}),),
        version="0.1.0", created=datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    return CaseReport(**{**base, **kw})


def test_report_holds_every_part():
    doc = to_html(_report())
    for part in ("demo00601", "SIMULATED", DISCLAIMER_TEXT, "Cardiomegaly", "0.810", "FINDINGS: enlarged heart.",
                 "Edema", "says absent", "retrieval", "eclip-vit-tiny-minilm", "1200", "5aa54f12", "abc123def",
                 "0.1.0", "2026-11-30 12:00:00", "Heart is enlarged.", "demo-eclip map: Jet colours",
                 "Model vs gaze", "split test"):
        assert part in doc, part
    # both maps scored against one gaze: the comparison table with the difference
    assert "difference (first − second)" in doc and "0.700" in doc  # CC 0.58 - (-0.12)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', doc)
    assert len(images) == 2
    assert Image.open(io.BytesIO(base64.b64decode(images[0]))).size[0] >= 512


def test_report_text_credit_sits_under_the_reading():
    credit = "Report text: Open-I, Indiana University (CC BY-NC-ND 4.0)"
    doc = to_html(_report(reading_credit=credit))
    assert doc.index("Heart is enlarged.") < doc.index(credit) < doc.index("Zero-shot findings")
    assert "Open-I" not in to_html(_report())  # no credit owed, none shown
    assert credit not in to_html(_report(reading=(), reading_credit=credit))  # no text, no credit


def test_report_loads_nothing_from_outside():
    doc = to_html(_report())
    assert "<script" not in doc.lower() and "<link" not in doc.lower()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", doc), "an external reference"
    assert "url(" not in doc


def test_every_text_is_escaped():
    evil = '<script>alert("x")</script>'
    doc = to_html(_report(case=evil, reading=(("Findings", evil),), zero_shot=((evil, 0.5),),
                          facts=(evil,), draft=Draft(evil, {"conflicts": [], "checked": 0}, {"backend": evil}),
                          figures=(Figure(evil, overlay_png(FILM), (evil,), None),)))
    assert "<script" not in doc
    assert doc.count("&lt;script&gt;") >= 7


def test_simulated_mark_only_when_it_applies():
    assert "SIMULATED" in to_html(_report(simulated=True))
    assert "SIMULATED" not in to_html(_report(simulated=False))


def test_file_stem_of_an_upload_names_no_file():
    assert _report(case="uploaded image").file_stem == "uploaded_image_model-vs-gaze_case_report"


def test_file_stem_names_the_page_so_two_pages_exports_of_a_case_do_not_collide():
    stems = {_report(page=page).file_stem for page in ("Case browser", "Model vs gaze", "Draft report", "Presenter")}
    assert stems == {"demo00601_case-browser_case_report", "demo00601_model-vs-gaze_case_report",
                     "demo00601_draft-report_case_report", "demo00601_presenter_case_report"}


def test_provenance_lists_retrieved_ids_as_text_and_long_values_wrap():
    prov = {"backend": "retrieval", "retrieved_ids": ["demo00012", "demo00345"], "weights_sha256": "f" * 64}
    doc = to_html(_report(draft=Draft("FINDINGS: x.", {"conflicts": [], "checked": 0}, prov)))
    assert "<td>demo00012, demo00345</td>" in doc and "[&#x27;demo00012&#x27;" not in doc
    assert "overflow-wrap:anywhere" in doc and "word-break:break-word" in doc  # the SHA-256 wraps in its cell


@pytest.mark.skipif(not chromium_available(), reason="needs Debian chromium: `make browser`")
def test_png_rendering_is_the_whole_report():
    png = to_png(to_html(_report()))
    im = Image.open(io.BytesIO(png))
    assert im.width >= 1000 and im.height > 900  # the full page, not one screen
    grey = np.asarray(im.convert("L"), dtype=np.float32)
    assert grey.std() > 10


def test_png_without_chromium_says_how_to_get_it(tmp_path: Path):
    with pytest.raises(EclipError, match="make browser"):
        to_png("<p>x</p>", chromium=str(tmp_path / "no-chromium"))


# --------------------------------------------------------------------------- overlay PNG band
def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_overlay_png_caption_band_names_case_and_keys_colours():
    plain = _rgb(overlay_png(FILM, HEAT))
    masks = {"Cardiomegaly": HEAT > 0.5}
    shot = _rgb(overlay_png(FILM, HEAT, masks=masks, caption=Caption("demo00601", simulated=True)))
    assert shot.shape[1] == plain.shape[1] and shot.shape[0] > plain.shape[0] + 30
    band = shot[plain.shape[0]:]
    assert (band < 100).all(axis=2).sum() > 100  # the case id and labels, in black
    orange = (band[..., 0] > 240) & (band[..., 1] > 160) & (band[..., 1] < 200) & (band[..., 2] < 30)
    assert orange.sum() > 200  # the SIMULATED mark
    cyan = (band[..., 0] < 30) & (band[..., 1] > 200) & (band[..., 2] > 240)
    assert cyan.sum() > 20  # the first mask's outline colour keyed


def test_overlay_png_caption_without_simulated_mark():
    band = _rgb(overlay_png(FILM, caption=Caption("uploaded image")))[512:]
    orange = (band[..., 0] > 240) & (band[..., 1] > 160) & (band[..., 1] < 200) & (band[..., 2] < 30)
    assert orange.sum() == 0 and (band < 100).all(axis=2).sum() > 50


def test_the_exported_draft_lists_ignored_findings_repetition_and_sides():
    from eclip.report.evidence import ZeroShot, check_draft

    text = "Small left pleural effusion. Small left pleural effusion. No left pleural effusion."
    evidence = check_draft(text, (ZeroShot("Edema", ("Edema",), 0.93),)).as_dict()
    doc = to_html(_report(draft=Draft(text, evidence, {"backend": "retrieval"})))
    assert "<b>Edema</b> (zero-shot p = 0.93): the draft does not mention it" in doc
    assert "is said 2 times" in doc and "said present and absent on the same side" in doc
    assert "No disagreement" not in doc
