"""Report-disjoint evaluation: score a model only on cases whose report it never met.

A "fresh" corpus built from the same report pool as the training corpus (the demo's
``build-demo --seed 1``) re-draws many of the same reports: new renderings, same words.
Open-I also repeats one normal report under hundreds of uids. So a case counts as fresh
only when neither its report uid (the manifest's ``patient_key``: the Open-I uid for the
demo corpus, a patient hash for MIMIC, which is stricter) nor its normalised report text
(``eclip.data.reports.normalized_report``) occurs in any corpus the model was trained or
selected on. The cases left are then bootstrapped by report cluster (cases sharing a
normalised text move together), since a repeated report is one piece of evidence.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eclip.data.manifest import read_manifest
from eclip.data.reports import normalized_report
from eclip.locations import shown_path
from eclip.model.card import read_card

log = logging.getLogger(__name__)

UID_COLUMN = "patient_key"
SELECTION_SPLITS = ("train", "validate")  # what training and model selection read of --data
REPO = Path(__file__).resolve().parents[2]


@dataclass
class SeenReports:
    """Report uids and normalised texts of the corpora a model has seen; ``sources`` says
    which corpora (and splits) they came from, for the printed summary."""

    uids: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)

    def add(self, df: pd.DataFrame, source: str, splits: tuple[str, ...] | None = None) -> None:
        """The rows of ``df`` (only ``splits`` when given); blank uids and texts are skipped:
        they name no report, so they cannot make two cases the same."""
        if splits is not None:
            df = df[df["split"].isin(splits)]
        self.uids |= {u for u in _uids(df) if u}
        self.texts |= {t for t in report_texts(df) if t}
        where = f" ({', '.join(splits)})" if splits is not None else " (every split)"
        self.sources.append(f"{source}{where}: {len(df)} rows")


def report_texts(df: pd.DataFrame) -> np.ndarray:
    """Every row's normalised report text (findings + impression; '' without a report)."""
    findings = df["findings"] if "findings" in df.columns else pd.Series([""] * len(df), index=df.index)
    impression = df["impression"] if "impression" in df.columns else pd.Series([""] * len(df), index=df.index)
    return np.array([normalized_report(f, i) for f, i in zip(findings, impression)], dtype=object)


def _uids(df: pd.DataFrame) -> np.ndarray:
    if UID_COLUMN not in df.columns:
        return np.full(len(df), "", dtype=object)
    return df[UID_COLUMN].fillna("").astype(str).str.strip().to_numpy(dtype=object)


def report_clusters(df: pd.DataFrame) -> np.ndarray:
    """One cluster id per row: its normalised report text; a row without a report text is
    a cluster of its own."""
    texts = report_texts(df)
    own = np.array([f"\0row{i}" for i in range(len(df))], dtype=object)
    return np.where(texts == "", own, texts)


def training_corpus(checkpoint: str | Path) -> Path | None:
    """The corpus a checkpoint was trained on (its config.json's ``data.root``) when that
    folder exists here with a manifest; relative roots are tried from the working
    directory, then from the repository."""
    try:
        config = json.loads((Path(checkpoint) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    root = str((config.get("data") or {}).get("root") or "").strip()
    if not root:
        return None
    path = Path(root)
    for candidate in ([path] if path.is_absolute() else [path, REPO / path]):
        if (candidate / "manifest.csv").is_file():
            return candidate.resolve()
    return None


def seen_reports(data: str | Path, checkpoints: list[str | Path] = ()) -> SeenReports:
    """What the models were trained or selected on: ``data``'s train and validate rows, and
    each checkpoint's training corpus found here: its train and validate rows, and its test
    rows too when the card says a choice was made on a test split (``selected_on``). A test
    split nobody chose on stays fresh: demo splits are keyed on the report text, so every demo
    corpus's test split holds the same report texts, and counting them all as seen would leave
    nothing to score."""
    seen = SeenReports()
    seen.add(read_manifest(data), str(data), SELECTION_SPLITS)
    done = set()
    for ckpt in checkpoints:
        root = training_corpus(ckpt)
        if root is None:
            log.info("%s: its training corpus is not here (config.json data.root)", ckpt)
            continue
        splits = None if selected_on_test(ckpt) else SELECTION_SPLITS
        if (root, splits) not in done:
            done.add((root, splits))
            seen.add(read_manifest(root), f"{shown_path(root)} (training corpus of {Path(ckpt).name})", splits)
    return seen


def selected_on_test(checkpoint: str | Path) -> bool:
    """Does the card say the model was chosen on a test split (its ``selected_on``, written by
    ``experiment --update-card --selected-on``)? A card that cannot be read: yes."""
    try:
        card = read_card(checkpoint, strict=True)
    except (OSError, ValueError):
        return True
    return "test" in card.selected_on.lower()


def disjoint_rows(df: pd.DataFrame, rows: np.ndarray, seen: SeenReports) -> tuple[np.ndarray, dict]:
    """Which of ``rows`` (positions in ``df``) have a report neither by uid nor by text in
    ``seen``: a boolean mask over ``rows``, and the counts of why the others went."""
    sub = df.iloc[np.asarray(rows, dtype=np.int64)]
    uid_seen = np.array([bool(u) and u in seen.uids for u in _uids(sub)], dtype=bool)
    text_seen = np.array([bool(t) and t in seen.texts for t in report_texts(sub)], dtype=bool)
    keep = ~uid_seen & ~text_seen
    counts = {"cases": int(len(sub)), "kept": int(keep.sum()), "dropped": int((~keep).sum()),
              "uid_and_text_seen": int((uid_seen & text_seen).sum()),
              "text_seen_under_another_uid": int((text_seen & ~uid_seen).sum()),
              "uid_seen_with_other_text": int((uid_seen & ~text_seen).sum())}
    return keep, counts


def describe(counts: dict, seen: SeenReports, split: str) -> str:
    """One paragraph for a person: kept / dropped fresh cases and why."""
    return (f"fresh {split} cases: kept {counts['kept']} of {counts['cases']}, dropped {counts['dropped']} "
            f"whose report the models may have seen ({counts['uid_and_text_seen']} same uid and text, "
            f"{counts['text_seen_under_another_uid']} same text under another uid, "
            f"{counts['uid_seen_with_other_text']} same uid); compared with "
            + "; ".join(seen.sources))


def disjoint_selection(fresh: str | Path, split: str, seen: SeenReports) -> tuple[np.ndarray, np.ndarray, dict]:
    """For the fresh corpus: a mask over its manifest rows keeping the report-disjoint
    rows of ``split`` (other splits untouched: the probe trains on the fresh train split),
    one report cluster per row, and the counts."""
    df = read_manifest(fresh)
    rows = np.flatnonzero((df["split"] == split).to_numpy())
    keep_rows, counts = disjoint_rows(df, rows, seen)
    keep = np.ones(len(df), dtype=bool)
    keep[rows] = keep_rows
    clusters = report_clusters(df)
    counts["clusters_kept"] = int(len(set(clusters[rows[keep_rows]])))
    return keep, clusters, counts
