"""The app follows the model card: the banner when the card says the model was trained on
simulated films (no dataset hash needed), the Zero-shot page saying it for dataset cases,
typicality against the model's own training images whatever folder shows the image, and
case reports carrying both."""

from __future__ import annotations

import json
import shutil
from html import escape
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"
CHECK = {"metric": "No Finding AUROC", "value": 0.515, "ci95": [0.39, 0.63], "n_films": 523,
         "films": "COVID-era films"}
CAVEAT = ("Trained on simulated films; on real films (523 COVID-era films) this model type was "
          "measured at chance: No Finding AUROC 0.515 [0.39, 0.63].")


def _with_card(src: Path, dst: Path, **fields) -> Path:
    ckpt = Path(shutil.copytree(src, dst))
    card = json.loads((ckpt / "card.json").read_text())
    (ckpt / "card.json").write_text(json.dumps({**card, **fields}))
    return ckpt


@pytest.fixture
def sim_ckpt(model_env, tmp_path, monkeypatch):
    """The micro model, its card saying simulated training with the measured real-film fact,
    and a training fingerprint that matches no dataset here."""
    ckpt = _with_card(model_env["checkpoint"], tmp_path / "sim", data_fingerprint="not-here",
                      training_data={"simulated": True}, real_film_check=CHECK)
    monkeypatch.setenv("ECLIP_CHECKPOINT", str(ckpt))
    return ckpt


def _real_copy(data: Path, out: Path) -> Path:
    """The tiny dataset as if its films were real (the 'simulated' column 0)."""
    from eclip.data.manifest import read_manifest, write_manifest

    root = Path(shutil.copytree(data, out))
    df = read_manifest(root)
    df["simulated"] = "0"
    write_manifest(df, root)
    return root


def test_the_banner_follows_the_card_never_a_dataset_hash(model_env, tmp_path):
    from eclip.data.manifest import fingerprint

    from app.components.case import model_notes

    told = _with_card(model_env["checkpoint"], tmp_path / "told", data_fingerprint="not-here",
                      training_data={"simulated": True})
    assert model_notes.trained_on_simulated(str(told))  # no dataset with that hash is here
    # a card naming a simulated dataset found here, without saying how the model was trained
    silent = _with_card(model_env["checkpoint"], tmp_path / "silent",
                        data_fingerprint=fingerprint(model_env["data"]), dataset=str(model_env["data"]))
    assert not model_notes.trained_on_simulated(str(silent))
    assert CAVEAT not in model_notes.banner_text(str(told))
    measured = _with_card(told, tmp_path / "measured", real_film_check=CHECK)
    assert CAVEAT in model_notes.banner_text(str(measured))


def test_one_image_has_one_typicality_whatever_folder_shows_it(model_env, tmp_path):
    from tiny_data import make_tiny_dataset

    from eclip.data.manifest import read_manifest
    from eclip.index import build_index, load_index
    from eclip.index.typicality import TypicalityUnavailable

    from app.components import loaders
    from app.components.case import loader, typicality

    lm = loaders.load_model(str(model_env["checkpoint"]))
    first = model_env["data"]
    other = make_tiny_dataset(tmp_path / "other", seed=7)  # other images, another train split
    shutil.copyfile(first / "images/case000.png", other / "images/case000.png")  # one image in both
    idx_other = build_index(model_env["checkpoint"], other, cache_root=tmp_path / "cache",
                            with_umap=False, progress=False, device="cpu")
    scores = []
    for root, index in ((first, load_index(model_env["checkpoint"], first, model_env["index_root"])),
                        (other, idx_other), (other, None)):
        case = loader.load(str(root), read_manifest(root), "case000")
        scores.append(typicality.typicality(lm, case, index))
    assert scores[0].percentile == scores[1].percentile == scores[2].percentile
    assert scores[0].distance == pytest.approx(scores[1].distance, abs=1e-5)
    assert scores[0].n_reference == 15  # the model's own training images, not the folder's
    bare = shutil.copytree(model_env["checkpoint"], tmp_path / "bare")
    (bare / "train_reference.safetensors").unlink()
    with pytest.raises(TypicalityUnavailable):  # no fallback to the folder shown
        typicality.typicality(loaders.load_model(str(bare)), case, None)


@pytest.mark.slow
def test_zero_shot_says_it_for_dataset_cases(sim_ckpt, model_env, tmp_path, monkeypatch):
    from eclip.index import build_index

    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.run()
    at.switch_page("views/zero_shot.py").run()
    assert not at.exception and not at.error  # simulated films: the caveat, not the red banner
    assert any(CAVEAT in c.value for c in at.caption)
    real = _real_copy(model_env["data"], tmp_path / "real")
    build_index(sim_ckpt, real, cache_root=tmp_path / "cache", with_umap=False, progress=False, device="cpu")
    monkeypatch.setenv("ECLIP_DATA", str(real))
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.run()
    at.switch_page("views/zero_shot.py").run()
    at.selectbox(key="zs_set").set_value("findings").run()  # a multiclass set shows one case's image
    assert not at.exception
    banners = [e.value for e in at.error if "trained on simulated radiographs only" in e.value]
    assert banners and CAVEAT in banners[0] and "images are not simulated" in banners[0]
    # the inspected case: its own banner and its typicality beside its image
    assert sum("this image is not one of them" in e.value for e in at.error) == 1
    assert "**Typicality**" in " ".join(m.value for m in at.markdown)


def test_case_reports_carry_the_caveat_and_the_typicality(sim_ckpt, model_env):
    from eclip.data.manifest import read_manifest

    from app.render import case_report
    from app.components import loaders, report_export
    from app.components.case import loader, typicality

    manifest = read_manifest(model_env["data"])
    case = loader.load(str(model_env["data"]), manifest, "case000")  # a simulated film
    assert report_export.warnings(str(sim_ckpt), case) == (CAVEAT,)
    lm = loaders.load_model(str(sim_ckpt))
    line = typicality.typicality_line(lm, case)
    assert "of the model's training images" in line
    report = case_report.CaseReport(case="case000", page="Case browser", simulated=True,
                                    warnings=report_export.warnings(str(sim_ckpt), case), typicality=line,
                                    models=report_export.model_summaries(str(sim_ckpt)))
    page = case_report.to_html(report)
    assert CAVEAT in page and escape(f"Typicality under the active model: {line}") in page
    assert "<td>simulated films</td>" in page  # the model card table: what it was trained on
