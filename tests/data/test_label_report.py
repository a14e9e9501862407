"""`python -m eclip.data label` says how much it could label (per label, rows naming any
finding) and warns when the text is not radiology reports (clinic notes: the labeller was
neither made nor measured for them); `import-folder --labels-from-text` warns the same way."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from eclip.data.__main__ import main
from eclip.data.labeller import MIN_RADIOLOGY_SHARE, radiology_share
from eclip.data.manifest import LABELS, REQUIRED_COLUMNS

from .formats import write_image

REPORTS = [
    "The heart is normal in size. The lungs are clear. No pleural effusion or pneumothorax.",
    "Small left pleural effusion. Mild cardiomegaly.",
    "PA and lateral views of the chest. Right lower lobe consolidation, likely pneumonia.",
    "Cardiomediastinal silhouette within normal limits. Degenerative changes of the thoracic spine.",
]
NOTES = [
    "Patient is a 67 year old man with three days of productive cough and fever. Denies chest pain.",
    "Past medical history of type 2 diabetes and hypertension. Takes metformin.",
    "Started on amoxicillin for community acquired pneumonia. Follow up in one week.",
    "Discussed smoking cessation. Patient agrees to referral. Mother had breast cancer.",
]


def manifest(root: Path, texts: list[str]) -> Path:
    rows = [{"id": f"r{i}", "image_path": f"images/r{i}.png", "findings": t, "impression": "",
             "split": "train", "view": "PA", "gaze_path": "", "patient_key": f"p{i}"}
            for i, t in enumerate(texts)]
    root.mkdir(parents=True)
    pd.DataFrame(rows, columns=list(REQUIRED_COLUMNS)).to_csv(root / "manifest.csv", index=False)
    return root


def label(root: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["label", str(root)]) == 0
    return capsys.readouterr().out


def test_label_on_reports_counts_what_it_labelled_and_does_not_warn(tmp_path, capsys):
    out = label(manifest(tmp_path / "ds", REPORTS), capsys)
    assert "labelled 4 of 4 row(s)" in out
    assert "rows naming any finding: 3 of 4 (75%)" in out  # the last names none
    effusion = next(line for line in out.splitlines() if line.startswith("Pleural Effusion"))
    assert effusion.split()[-3:] == ["1", "1", "0"]  # 1 positive, 1 negative, 0 uncertain
    assert all(any(line.startswith(lab) for line in out.splitlines()) for lab in LABELS)
    assert "WARNING" not in out


def test_label_on_clinic_notes_warns_and_says_how_little_it_found(tmp_path, capsys):
    out = label(manifest(tmp_path / "ds", NOTES), capsys)
    assert "rows naming any finding: 1 of 4 (25%); the other 3 are No Finding only because" in out
    assert "WARNING: only" in out and "read like a radiology report" in out and "clinic notes" in out
    share, n = radiology_share(NOTES)
    assert share < MIN_RADIOLOGY_SHARE <= radiology_share(REPORTS)[0] and n >= 8


def test_import_folder_labels_from_text_warns_on_notes(tmp_path, capsys):
    src = tmp_path / "src"
    for i in range(len(NOTES)):
        write_image(src / f"img{i}.png", 64, 64, seed=i)
    pd.DataFrame({"file": [f"img{i}.png" for i in range(len(NOTES))], "text": NOTES}) \
        .to_csv(src / "c.csv", index=False)
    capsys.readouterr()
    assert main(["import-folder", "--images", str(src), "--csv", str(src / "c.csv"), "--image-col", "file",
                 "--findings-col", "text", "--labels-from-text", "--out", str(tmp_path / "ds"),
                 "--workers", "1", "--no-progress"]) == 0
    assert "WARNING: --labels-from-text: only" in capsys.readouterr().out
