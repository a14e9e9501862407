"""The seeds experiment's answer to "does gaze help?" goes wherever the model card is shown: the
sidebar under the model, the Presenter's model-card panel and an exported case report, when the
active model's card has it (``eclip evaluate card --gaze-seeds``); nothing when it has not."""

from __future__ import annotations

import json
import shutil
from html import escape
from pathlib import Path

from gaze_report import prior_section, report
from streamlit.testing.v1 import AppTest

from eclip.evaluate.gaze_effect import PRIOR, effect

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"


def _sidebar(at: AppTest) -> tuple[list[str], list[str]]:
    return [m.value for m in at.sidebar.markdown], [c.value for c in at.sidebar.caption]


def _answered(src: Path, dst: Path, answer) -> Path:
    """A copy of the checkpoint whose card carries the seeds experiment's answer."""
    ckpt = Path(shutil.copytree(src, dst))
    card = json.loads((ckpt / "card.json").read_text())
    (ckpt / "card.json").write_text(json.dumps({**card, "gaze_effect": answer.as_dict()}))
    return ckpt


def test_the_sidebar_says_whether_gaze_helps_when_the_card_does(model_env, tmp_path, monkeypatch):
    answer = effect(report(seeds=3), source="gaze-seeds.json")
    ckpt = _answered(model_env["checkpoint"], tmp_path / "with-answer", answer)
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.run()
    assert not at.exception
    markdown, captions = _sidebar(at)
    assert "**Does gaze help?**" not in markdown  # the micro model's card has no answer
    assert not any("paired training seeds" in c for c in captions)

    monkeypatch.setenv("ECLIP_CHECKPOINT", str(ckpt))
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.run()
    assert not at.exception
    markdown, captions = _sidebar(at)
    assert "**Does gaze help?**" in markdown and answer.sentence in captions
    assert "provisional: 3 of the 6 planned seeds" in answer.sentence and str(tmp_path) not in answer.sentence


def test_the_presenters_model_card_panel_says_it_too(model_env, tmp_path, monkeypatch):
    answer = effect(report(), source="gaze-seeds.json")
    monkeypatch.setenv("ECLIP_CHECKPOINT", str(_answered(model_env["checkpoint"], tmp_path / "ck", answer)))
    (tmp_path / "tour.toml").write_text('[[stop]]\ncase = "case000"\ntitle = "A film"\npoint = "Look."\n')
    monkeypatch.setenv("ECLIP_TOUR", str(tmp_path / "tour.toml"))
    at = AppTest.from_file(str(MAIN), default_timeout=90)
    at.run()
    at.switch_page("views/presenter.py").run()
    assert not at.exception
    (panel,) = [e for e in at.expander if e.label == "Typicality and model card"]
    assert "**Does gaze help?**" in [m.value for m in panel.markdown]
    assert answer.sentence in [c.value for c in panel.caption]


def test_the_presenters_panel_gives_the_compare_models_answer_under_its_name(
        model_env, compare_model, tmp_path, monkeypatch):
    """eCLIP active beside a gaze-prior model: the room reads both answers, each under its model."""
    both = report(prior=prior_section())
    eclip_answer, prior_answer = effect(both), effect(both, section=PRIOR)
    assert eclip_answer.sentence != prior_answer.sentence
    monkeypatch.setenv("ECLIP_CHECKPOINT", str(_answered(model_env["checkpoint"], tmp_path / "ck", eclip_answer)))
    compare = _answered(compare_model["checkpoint"], model_env["runs"] / "micro-prior" / "final", prior_answer)
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(compare_model["index_root"]))
    (tmp_path / "tour.toml").write_text('[[stop]]\ncase = "case000"\ntitle = "A film"\npoint = "Look."\n')
    monkeypatch.setenv("ECLIP_TOUR", str(tmp_path / "tour.toml"))
    at = AppTest.from_file(str(MAIN), default_timeout=90)
    at.run()
    from app.components.state import compare_key

    active = at.sidebar.selectbox(key="model_choice").value
    at.sidebar.selectbox(key=compare_key(active)).set_value(str(compare)).run()
    at.switch_page("views/presenter.py").run()
    assert not at.exception, [e.value for e in at.exception]
    (panel,) = [e for e in at.expander if e.label == "Typicality and model card"]
    captions = [c.value for c in panel.caption]
    names = [i for i, c in enumerate(captions) if c.startswith(("**ck** · ", "**micro-prior** · "))]
    assert [captions[i].split(" · ")[0] for i in names] == ["**ck**", "**micro-prior**"]
    # each answer follows its own model's name
    assert captions.index(eclip_answer.sentence) > names[0] and captions.index(prior_answer.sentence) > names[1]


def test_the_exported_case_report_says_it_when_the_active_card_does(model_env, tmp_path):
    from eclip.data.manifest import read_manifest

    from app.components import report_export, state
    from app.components.case import loader
    from app.render.case_report import to_html

    case = loader.load(str(model_env["data"]), read_manifest(model_env["data"]), "case000")
    answer = effect(report(seeds=3), source="gaze-seeds.json")
    answered = _answered(model_env["checkpoint"], tmp_path / "ck", answer)
    page = to_html(report_export.build(case, "Model vs gaze", [], checkpoint=str(answered)))
    # worded by the function the sidebar and the Presenter draw it with
    question, said = state.gaze_question_and_answer({"gaze_effect": answer.as_dict()})
    assert (question, said) == ("Does gaze help?", answer.sentence)
    assert f"<b>{escape(question)}</b><br>{escape(said)}" in page and str(tmp_path) not in page

    page = to_html(report_export.build(case, "Model vs gaze", [], checkpoint=str(model_env["checkpoint"])))
    assert "Does gaze help?" not in page and "paired training seeds" not in page
    assert "Model card" in page  # the card is there, without an answer to give
