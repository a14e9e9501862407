"""Case-list logic for the browser: filters, the displayed columns, label chips.

Pure pandas so it can be tested without Streamlit. Only whitelisted columns are ever shown:
the manifest holds no patient identifiers, and file paths (which an import-folder dataset may
have named after patients) stay hidden too.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from plotly.colors import qualitative

from eclip.data.labeller import affirms
from eclip.data.manifest import LABELS, label_columns
from eclip.memo import BoundedCache

GAZE_CHOICES = ("all", "with gaze", "without gaze")
LIST_LIMIT = 1000  # rows sent to the browser at once; filters narrow the rest


@dataclass
class CaseFilter:
    splits: list[str] = field(default_factory=list)  # empty: every split
    labels: list[str] = field(default_factory=list)  # every one must be positive (1)
    gaze: str = "all"
    text: str = ""  # case-insensitive, literal, over findings + impression
    exclude_negated: bool = False  # the text must occur outside a negation ("No pleural effusion")


def has_gaze(df: pd.DataFrame) -> pd.Series:
    return df["gaze_path"].astype(str).str.len() > 0


def is_simulated(df: pd.DataFrame) -> pd.Series:
    if "simulated" not in df.columns:
        return pd.Series(False, index=df.index)
    return df["simulated"].astype(str).str.strip().isin({"1", "1.0", "true", "True"})


# Rows whose report text is Open-I's (Indiana University): the demo corpus draws its reports
# from the NLMCXR tarball, `import-openi` and the Open-I evaluation set import them.
OPENI_SOURCES = frozenset({"demo", "openi", "openi-retrieval"})
OPENI_CREDIT = "Report text: Open-I, Indiana University (CC BY-NC-ND 4.0)"


def report_credit(row: pd.Series | None) -> str:
    """The attribution line shown with a row's report text ("" when none is owed)."""
    if row is None:
        return ""
    return OPENI_CREDIT if str(row.get("source", "")).strip() in OPENI_SOURCES else ""


def filter_cases(df: pd.DataFrame, f: CaseFilter) -> pd.DataFrame:
    keep = pd.Series(True, index=df.index)
    if f.splits:
        keep &= df["split"].isin(f.splits)
    for lab in f.labels:
        if lab in df.columns:
            keep &= df[lab] == 1.0
        else:
            keep &= False
    if f.gaze == "with gaze":
        keep &= has_gaze(df)
    elif f.gaze == "without gaze":
        keep &= ~has_gaze(df)
    text = f.text.strip()
    if text:
        keep &= text_matches(df, text, f.exclude_negated)
    return df[keep]


def text_matches(df: pd.DataFrame, text: str, exclude_negated: bool = False) -> pd.Series:
    """Rows whose findings or impression hold ``text`` (literal, any case); with
    ``exclude_negated`` only where a sentence affirms it: "effusion" then finds "Small left
    pleural effusion" but not "No pleural effusion" (eclip.data.labeller's negation cues)."""
    hits = report_body(df).str.contains(text, case=False, regex=False)
    if not exclude_negated or not hits.any():
        return hits
    return hits & _affirmed(df, hits, text)


_AFFIRMED = BoundedCache(16, "negation-aware report searches")


def _affirmed(df: pd.DataFrame, hits: pd.Series, text: str) -> pd.Series:
    """Of the rows in ``hits``, those whose report affirms ``text``. Kept per manifest object
    and text: a search is read sentence by sentence in Python (~15 µs a report), so the page's
    reruns (any other widget) reuse it."""
    def compute() -> tuple:
        rows = df.loc[hits, ["findings", "impression"]].astype(str)
        found = [affirms(f, text) or affirms(i, text) for f, i in zip(rows["findings"], rows["impression"])]
        return weakref.ref(df), pd.Series(found, index=rows.index, dtype=bool).reindex(df.index, fill_value=False)

    key = (id(df), len(df), text.lower())
    ref, mask = _AFFIRMED.get_or_compute(key, compute)
    if ref() is not df or not mask.index.equals(df.index):  # another frame took this id since
        ref, mask = compute()
        _AFFIRMED.put(key, (ref, mask))
    return mask


def find(df: pd.DataFrame, text: str) -> pd.DataFrame:
    """The rows a case picker's typed words find: an id holding ``text``, a positive finding
    whose name holds it, or a report that affirms it (negated mentions left out)."""
    needle = text.strip()
    if not needle:
        return df.iloc[:0]
    keep = df["id"].astype(str).str.contains(needle, case=False, regex=False)
    for lab in label_columns(df):
        if needle.lower() in lab.lower():
            keep |= df[lab] == 1.0
    keep |= text_matches(df, needle, exclude_negated=True)
    return df[keep]


_BODIES = BoundedCache(4, "report text to search")


def report_body(df: pd.DataFrame) -> pd.Series:
    """Findings + impression of every row, the text the search box looks in. Joined once per
    manifest object (the app shares one per dataset): at 200,000 rows the join took ~0.7 s
    of every search, the search itself ~0.07 s."""
    def join() -> tuple:
        return weakref.ref(df), df["findings"].astype(str) + " " + df["impression"].astype(str)

    ref, body = _BODIES.get_or_compute(id(df), join)
    if ref() is not df or len(body) != len(df):  # another frame took this id since
        ref, body = join()
        _BODIES.put(id(df), (ref, body))
    return body


def _labels_in(row: pd.Series) -> list[str]:
    return [lab for lab in LABELS if lab in row.index]


def positive_labels(row: pd.Series) -> list[str]:
    return [lab for lab in _labels_in(row) if row[lab] == 1.0]


def case_table(df: pd.DataFrame, limit: int = LIST_LIMIT) -> pd.DataFrame:
    """The list shown to the user: id, gaze flag and positive findings (narrow on purpose:
    it sits beside the image)."""
    shown = df.head(limit)
    labs = label_columns(shown)
    if labs:
        values = shown[labs].to_numpy()
        findings = [", ".join(lab for lab, v in zip(labs, row) if v == 1.0) for row in values]
    else:
        findings = [""] * len(shown)
    return pd.DataFrame({
        "id": shown["id"].to_numpy(),
        "gaze": has_gaze(shown).to_numpy(),
        "findings": findings,
    })


# Chip colours: positive red, uncertain orange, negative grey (Streamlit markdown badges).
_CHIP = {1.0: ("red", ""), -1.0: ("orange", "? "), 0.0: ("gray", "no ")}


def label_chips(row: pd.Series) -> str:
    """Markdown badges for every label the report mentions (NaN = not mentioned)."""
    chips = []
    for value in (1.0, -1.0, 0.0):
        colour, prefix = _CHIP[value]
        for lab in _labels_in(row):
            v = row[lab]
            if value == 0.0 and lab == "No Finding":
                continue  # "no No Finding" says nothing the positive chips don't
            if not (isinstance(v, float) and np.isnan(v)) and float(v) == value:
                hue = "green" if (lab == "No Finding" and value == 1.0) else colour
                chips.append(f":{hue}-badge[{prefix}{md_escape(lab)}]")
    return " ".join(chips)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|:<>~$])")


def md_escape(text: str) -> str:
    """Escape Markdown so report text renders literally."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def primary_finding(df: pd.DataFrame) -> pd.Series:
    """One finding per case for colouring plots: the first positive label that is not
    'No Finding', else 'No Finding' when positive, else 'unlabelled'."""
    labs = [lab for lab in label_columns(df) if lab != "No Finding"]
    out = pd.Series("unlabelled", index=df.index, dtype=object)
    if "No Finding" in df.columns:
        out[df["No Finding"] == 1.0] = "No Finding"
    for lab in reversed(labs):  # earlier labels win: assign them last
        out[df[lab] == 1.0] = lab
    return out


# Plot colours. Plotly's default sequence has 10 colours, so a map of 13 findings painted
# Atelectasis and Pneumothorax alike. These 15 are taken from plotly's qualitative palettes
# (Dark24, Alphabet, Plotly, D3, G10, T10, Light24), farthest-first in CIEDE2000 among those
# readable on white (L* < 72): the closest two are 17.8 apart (Dark24's first 15: 8.7). Each
# finding owns the colour of its place in LABELS, so it keeps it whatever else is shown.
PALETTE = ("#2E91E5", "#90AD1C", "#620042", "#FC6955", "#6C4516", "#FE00FA", "#00A08B",
           "#511CFB", "#B68100", "#0D2A63", "#B82E2E", "#BC7196", "#B10DA1", "#316395",
           "#FF7F0E")
SPARE = tuple(c for c in qualitative.Dark24 if c not in PALETTE)  # past 15 groups
FINDING_COLOURS = dict(zip((*LABELS, "unlabelled"), PALETTE))


def group_colours(groups) -> dict[str, str]:
    """A colour per group: findings their own; other groups (splits, gaze) the palette's
    colours in order, skipping those the findings present took (repeats only past 32)."""
    groups = list(groups)
    taken = {FINDING_COLOURS[g] for g in groups if g in FINDING_COLOURS}
    spare = [c for c in PALETTE + SPARE if c not in taken]
    others = [g for g in dict.fromkeys(groups) if g not in FINDING_COLOURS]
    own = {g: spare[i % len(spare)] for i, g in enumerate(others)}
    return {g: FINDING_COLOURS.get(g) or own[g] for g in groups}
