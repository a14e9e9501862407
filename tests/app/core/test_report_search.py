"""Report-text search that leaves negated mentions out (app.core.cases over eclip.data.labeller's
negation cues), the case picker's search (ids, findings, report text), and the bone window
preset on a real CR chest film."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.core import cases
from eclip.data.labeller import affirms

REPORTS = pd.DataFrame({
    "id": ["a1", "b2", "c3", "d4", "e5", "f6"],
    "split": "train", "gaze_path": "",
    "findings": ["Small left pleural effusion.", "No pleural effusion.", "No effusion or pneumothorax.",
                 "Pleural effusion is not seen.", "No pneumothorax. Small right effusion.",
                 "Effusion cannot be excluded."],
    "impression": ["", "Normal chest.", "", "", "", ""],
    "Pleural Effusion": [1.0, 0.0, 0.0, 0.0, 1.0, -1.0],
    "Pneumothorax": [np.nan, np.nan, 0.0, np.nan, 0.0, np.nan],
})


@pytest.mark.parametrize(("text", "phrase", "expected"), [
    ("Small left pleural effusion with blunting.", "effusion", True),
    ("No pleural effusion.", "effusion", False),
    ("No large pleural effusions.", "Effusion", False),
    ("No focal consolidation, pneumothorax or definite pleural effusion.", "effusion", False),  # one scope
    ("Pleural effusion is not seen.", "effusion", False),  # a cue after the words
    ("No pneumothorax. Small right effusion.", "effusion", True),  # another sentence affirms it
    ("No effusion but a small pneumothorax.", "pneumothorax", True),  # "but" ends the scope
    ("Effusion cannot be excluded.", "effusion", True),  # doubt, not a negation
    ("Heart is not enlarged.", "enlarged", False),
    ("No effusion.", "no effusion", True),  # the words asked for, negation and all
    ("Clear lungs.", "effusion", False),
])
def test_affirms_reads_the_labellers_negation_cues(text, phrase, expected):
    assert affirms(text, phrase) is expected


def test_report_search_can_leave_negated_mentions_out():
    literal = cases.filter_cases(REPORTS, cases.CaseFilter(text="effusion"))
    assert literal["id"].tolist() == ["a1", "b2", "c3", "d4", "e5", "f6"]  # every mention, negations too
    affirmed = cases.filter_cases(REPORTS, cases.CaseFilter(text="EFFUSION", exclude_negated=True))
    assert affirmed["id"].tolist() == ["a1", "e5", "f6"]
    again = cases.filter_cases(REPORTS, cases.CaseFilter(text="effusion", exclude_negated=True))
    assert again["id"].tolist() == ["a1", "e5", "f6"]  # kept per manifest and words
    other = REPORTS.assign(findings=["Clear.", "Small effusion.", "", "", "", ""])  # another frame: its own
    assert cases.filter_cases(other, cases.CaseFilter(text="effusion", exclude_negated=True))["id"].tolist() == ["b2"]


def test_the_case_picker_finds_ids_findings_and_affirmed_report_text():
    assert cases.find(REPORTS, "B2")["id"].tolist() == ["b2"]  # an id, any case
    assert cases.find(REPORTS, "pleural effusion")["id"].tolist() == ["a1", "e5"]  # positive label or text
    assert cases.find(REPORTS, "pneumothorax")["id"].tolist() == []  # only ever negated here
    assert cases.find(REPORTS, "normal chest")["id"].tolist() == ["b2"]  # the impression too
    assert cases.find(REPORTS, "  ").empty


def test_the_bone_preset_keeps_a_real_cr_film_visible():
    """The bone window once mapped the 75th percentile to black: three quarters of
    pydicom-data's real CR chest film went black, the ribs over the lungs with it."""
    from pydicom.data import get_testdata_file

    from eclip.data.images import load_image_bytes
    from eclip.data.window import windowable

    path = get_testdata_file("RG1_UNCR.dcm")
    assert path is not None, "pydicom-data is not installed (see requirements.txt)"
    with open(path, "rb") as fh:
        film = windowable(load_image_bytes(fh.read(), keep_values=True), size=256)
    shown = {name: film.render(film.preset(name)) for name in ("lung", "mediastinum", "bone")}
    assert (shown["bone"] <= 0.02).mean() < 0.3  # most of the film stays readable
    assert (shown["bone"] >= 0.98).mean() < 0.01  # and dense bone is not clipped white
    assert shown["bone"].mean() > shown["mediastinum"].mean()  # wider than the soft-tissue window
