"""A small negation-aware labeller: report text -> one value per CheXpert finding.

Values follow the manifest convention: 1 positive, 0 negative, -1 uncertain, NaN not
mentioned. Rules, per sentence clause and finding mention:

1. "cannot be excluded" / "not ruled out"-style phrases -> -1 (they contain a negation word
   but express doubt);
2. a negation cue before the mention ("no", "without", "negative for", "free of" ...) or
   after it ("is not seen", "has resolved" ...) -> 0; the scope of a cue before the mention
   runs to the end of the clause, so "no effusion, consolidation or pneumothorax" negates
   all three;
3. an uncertainty cue anywhere in the clause ("possible", "likely", "may" ...) -> -1;
4. otherwise 1.

Across mentions: positive beats uncertain beats negative (as the CheXpert labeller).
``No Finding`` is 1 when no pathology is positive or uncertain (support devices do not
count), else 0. Made for our findings and our report style, not a clinical NLP system.

It lives in the data layer because importers fill label columns with it
(``import-folder --labels-from-text``, ``python -m eclip.data label``); ``eclip.report.labeller``
re-exports it for drafts and report metrics. Its agreement with Open-I's MeSH labels is
measured by ``benchmarks/labeller.py`` (``eclip.data.labeller_eval``); the patterns were tuned
on the development half only.

It was made for, and measured on, radiology reports. On other clinical text it is wrong in a
way that looks right: a note that names no finding becomes "No Finding" (a clinic note's
precision for No Finding was 0.04), and a note's "pneumonia" is the diagnosis, not what a
film shows. ``radiology_share`` is the check: the share of sentences that use radiology
vocabulary (anatomy a film shows, film words such as "PA", "lateral", "silhouette", or a
finding this labeller knows). On the NLMCXR reports it is 0.90 (0.67 at the 5th percentile
of reports); on clinic-note text about 0.2. Below ``MIN_RADIOLOGY_SHARE`` (0.5) over a
dataset's texts, ``python -m eclip.data label`` and ``import-folder --labels-from-text`` warn
that the labels cannot be trusted (``not_radiology_warning``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from eclip.data.manifest import LABELS

# Mention patterns (regex over lower-cased text; \b word boundaries).
MENTIONS: dict[str, tuple[str, ...]] = {
    "Atelectasis": (r"atelecta\w*", r"collapse\w*"),
    "Cardiomegaly": (r"cardiomegaly", r"enlarged (?:heart|cardiac silhouette)",
                     r"(?:heart|cardiac silhouette)(?: size)? is (?:mildly |moderately |severely )?enlarged",
                     # dev half: "heart size mildly enlarged", "moderate enlargement of the
                     # heart", "enlarged heart silhouette", "the heart is large" were missed
                     r"(?:heart|cardiac silhouette)(?: size)? (?:appears |remains )?(?:\w+ )?(?:to \w+ )?enlarged",
                     r"enlargement of the (?:heart|cardiac silhouette)", r"enlarged heart silhouette",
                     r"(?:the )?heart is large",
                     r"cardiac enlargement", r"heart size is (?:normal|within normal limits)",
                     r"normal (?:heart|cardiac) size", r"heart is normal in size",
                     r"(?:heart|cardiac silhouette)(?: size)? is not enlarged"),
    "Consolidation": (r"consolidat\w*",),
    # "interstitial markings" alone is usually chronic (23 of 44 dev-half false positives);
    # congestion, cephalization and venous hypertension are how these reports say edema
    "Edema": (r"o?edema\w*", r"(?:vascular |pulmonary |venous )?congestion", r"congestive",
              r"cephalization", r"(?:pulmonary )?(?:venous|vascular) (?:hypertension|engorgement)",
              r"(?:central )?(?:pulmonary )?vascular prominence", r"(?:heart|cardiac) failure",
              r"increased (?:lung|pulmonary) vascularity", r"kerley"),
    "Enlarged Cardiomediastinum": (r"(?:widened|enlarged|widening of the) (?:cardio)?mediastin\w*",
                                   r"mediastinal widening", r"cardiomediastinal silhouette is enlarged",
                                   r"prominen\w+ of the (?:\w+ )?mediastin\w*",
                                   r"mediastin\w+ (?:is |are |appears )?(?:\w+ )?(?:prominent|widened|enlarged)",
                                   r"paratracheal (?:prominence|fullness)"),
    "Fracture": (r"fractur\w*",),
    "Lung Lesion": (r"nodul\w*", r"mass(?:es)?", r"lesion\w*", r"granulom\w*", r"tumou?r\w*"),
    "Lung Opacity": (r"opaci\w*", r"infiltrat\w*", r"airspace disease", r"haziness",
                     r"retrocardiac densit\w*",
                     r"(?:basilar|basal|base|lobe|lingular?|lung) (?:\w+ )?densit(?:y|ies)"),
    "Pleural Effusion": (r"effusion\w*", r"blunting of the (?:\w+ )?costophrenic", r"pleural fluid"),
    "Pleural Other": (r"pleural thickening", r"fibrothorax", r"pleural scar\w*"),
    # bare "infection" hit "prior granulomatous infection" (old, healed) on the dev half
    "Pneumonia": (r"pneumonia\w*", r"(?:chest|lung|pulmonary|respiratory) infection",
                  r"infectious (?:process|etiology)"),
    "Pneumothorax": (r"pneumothora\w*",),
    # dev half: clips, AICDs, EKG leads, sternotomy "XXXX" (the de-identifier ate "wires")
    # made up most of the 114 missed devices
    "Support Devices": (r"tubes?", r"catheters?", r"pacemaker\w*", r"picc", r"central (?:venous )?line",
                        r"sternotomy(?: wires?)?", r"devices?", r"drains?", r"stents?", r"port-?a-?cath",
                        r"portacath\w*", r"(?:surgical |vascular |cholecystectomy )?clips?", r"a?icd",
                        r"defibrillator\w*", r"(?:ekg|ecg|monitor|cardiac monitor|pacer) leads?",
                        r"leads?", r"hardware", r"anchors?", r"prosthe\w+", r"valve replacement",
                        r"vertebroplasty", r"kyphoplasty", r"coils?", r"wires?", r"cabg markers?"),
}
# Mentions that are negative by themselves ("heart size is normal").
NEGATIVE_MENTIONS = {
    "Cardiomegaly": (r"heart size is (?:normal|within normal limits)", r"normal (?:heart|cardiac) size",
                     r"heart is normal in size", r"(?:heart|cardiac silhouette)(?: size)? is not enlarged"),
}
PRE_NEGATION = (r"\b(?:no|not|without|negative for|free of|absence of|resolution of|removal of|resolved|"
                r"clear of|rules? out|ruled out)\b")
POST_NEGATION = (r"\b(?:is|are|was|were) (?:not|no longer) (?:seen|identified|present|visualized|appreciated|evident)\b"
                 r"|\b(?:has|have) resolved\b|\bresolved\b|\babsent\b|\bnot (?:seen|identified|present)\b"
                 r"|\b(?:has|have) been removed\b")  # "tube and NG tube have been removed"
DOUBT_NEGATION = (r"\bcannot be (?:excluded|ruled out)\b|\bcan ?not exclude\b|\bnot (?:be )?(?:excluded|ruled out)\b"
                  r"|\bdifficult to exclude\b")
UNCERTAIN = (r"\b(?:may|might|could|possibl[ey]|probabl[ey]|likely|question(?:able)?|suspect\w*|suspicious"
             r"|concerning for|versus|vs|differential|suggest\w*|equivocal|borderline|cannot be excluded"
             r"|uncertain|indeterminate)\b|\?")
# Clause breakers: a negation before them does not reach mentions after them.
_CLAUSE = re.compile(r"[.;:\n]|\bbut\b|\bhowever\b|\balthough\b|\bexcept\b|\bwhich\b|\bwith the exception\b")
_COMPILED = {lab: re.compile(r"\b(?:" + "|".join(p) + r")\b") for lab, p in MENTIONS.items()}
_NEG_MENTION = {lab: re.compile(r"\b(?:" + "|".join(p) + r")\b") for lab, p in NEGATIVE_MENTIONS.items()}
_PRE, _POST = re.compile(PRE_NEGATION), re.compile(POST_NEGATION)
_DOUBT, _UNC = re.compile(DOUBT_NEGATION), re.compile(UNCERTAIN)
PATHOLOGIES = tuple(lab for lab in LABELS if lab not in ("No Finding", "Support Devices"))


# Words of a chest film report besides the findings above: anatomy a film shows, how it was
# taken, how a reader describes it (see radiology_share).
RADIOLOGY_TERMS = (
    r"lungs?", r"pulmonary", r"pleura\w*", r"heart", r"cardiac", r"cardio\w*", r"mediastin\w*",
    r"hil(?:ar|um|a)", r"(?:hemi)?diaphragm\w*", r"costophrenic", r"thora\w*", r"ribs?", r"osseous",
    r"bony", r"bones?", r"spine", r"spinal", r"vertebra\w*", r"trache\w*", r"aort\w*", r"silhouett\w*",
    r"lucen\w*", r"radiograph\w*", r"x-?rays?", r"films?", r"views?", r"pa", r"ap", r"lateral",
    r"frontal", r"upright", r"portable", r"supine", r"airspace", r"parenchym\w*", r"vascular\w*",
    r"vasculature", r"apex", r"apical", r"apices", r"bas(?:e|es|al|ilar)", r"lobes?", r"lingula\w*",
    r"soft tissues?", r"clavicles?", r"scapula\w*", r"subcutaneous", r"emphysema\w*", r"hyperinflat\w*",
    r"hyperexpan\w*", r"calcifi\w*", r"interstiti\w*", r"markings", r"contours?", r"cardiopulmonary",
    r"chest wall", r"degenerative", r"scoliosis", r"kyphosis", r"osteophyt\w*", r"bowel gas",
    r"upper quadrant", r"visualized", r"unremarkable", r"within normal limits", r"clear", r"expanded",
    r"inflated", r"azygos", r"hemithorax",
)
_RADIOLOGY = re.compile(r"\b(?:" + "|".join(RADIOLOGY_TERMS + tuple(p for ps in MENTIONS.values() for p in ps))
                        + r")\b")
_SENTENCES = re.compile(r"[.!?\n]+")
MIN_RADIOLOGY_SHARE = 0.5


def radiology_share(texts) -> tuple[float, int]:
    """(share of sentences that use radiology vocabulary, number of sentences) over ``texts``;
    (nan, 0) when they hold no sentence. See the module docstring."""
    hits = total = 0
    for text in texts:
        for sentence in _SENTENCES.split(str(text or "").lower()):
            if len(sentence.strip()) > 2:
                total += 1
                hits += bool(_RADIOLOGY.search(sentence))
    return (hits / total if total else math.nan), total


def not_radiology_warning(texts) -> str:
    """A warning when ``texts`` do not read as radiology reports, else ''."""
    share, n = radiology_share(texts)
    if not n or share >= MIN_RADIOLOGY_SHARE:
        return ""
    return (f"only {share:.0%} of the {n} sentences read like a radiology report (radiology reports: "
            f"~90 %; below {MIN_RADIOLOGY_SHARE:.0%} warns). The labeller reads chest film reports: on "
            "other text (clinic notes, discharge summaries) a row that names no finding is labelled "
            "No Finding, and a diagnosis is taken for a film finding. Do not trust these labels; give "
            "the radiology report's text, or labels from the source.")


def clauses(text: str) -> list[str]:
    return [c.strip() for c in _CLAUSE.split(text.lower()) if c.strip()]


def mention_value(clause: str, start: int, end: int, label: str) -> int:
    """Value of one mention at clause[start:end]."""
    if label in _NEG_MENTION and _NEG_MENTION[label].fullmatch(clause[start:end]):
        return 0
    if _DOUBT.search(clause):
        return -1
    if _PRE.search(clause[:start]) or _POST.search(clause[end:]):
        return 0
    if _UNC.search(clause):
        return -1
    return 1


@dataclass(frozen=True)
class Mention:
    label: str
    value: int  # 1 positive, 0 negative, -1 uncertain
    clause: str  # the lower-cased clause it was found in (shown as the draft's words)


def mentions(text: str) -> list[Mention]:
    """Every finding mention of ``text``, clause by clause, each with its own value."""
    return [Mention(lab, mention_value(clause, m.start(), m.end(), lab), clause)
            for clause in clauses(text or "")
            for lab, pattern in _COMPILED.items()
            for m in pattern.finditer(clause)]


def combine(values: list[int] | list[float]) -> float:
    """Several mentions -> one value: positive beats uncertain beats negative; NaN if none."""
    values = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return math.nan
    if 1 in values:
        return 1.0
    return -1.0 if -1 in values else 0.0


def label_report(text: str) -> dict[str, float]:
    """One value per CheXpert label (see module doc)."""
    found: dict[str, list[int]] = {lab: [] for lab in MENTIONS}
    for m in mentions(text):
        found[m.label].append(m.value)
    out = {lab: combine(found.get(lab, [])) for lab in LABELS if lab != "No Finding"}
    abnormal = any(out[lab] in (1.0, -1.0) for lab in PATHOLOGIES)
    out["No Finding"] = 0.0 if abnormal else 1.0
    return {lab: out[lab] for lab in LABELS}


def labels_from_text(findings: str, impression: str) -> dict[str, float]:
    """The 14 CheXpert values of a report given as its two sections (either may be empty).
    Both sections are read: the impression often names what the findings only describe."""
    text = " ".join(t.strip() for t in (findings or "", impression or "") if t.strip())
    if not text:  # no report: nothing is known, not "No Finding"
        return {lab: math.nan for lab in LABELS}
    return label_report(text)


def negated(clause: str, start: int, end: int) -> bool:
    """Whether the words at ``clause[start:end]`` (a lower-cased clause of ``clauses``) lie
    in the scope of a negation cue, as ``mention_value`` reads a finding's mention; a
    "cannot be excluded" phrase is doubt, not negation."""
    if _DOUBT.search(clause):
        return False
    return bool(_PRE.search(clause[:start]) or _POST.search(clause[end:]))


def affirms(text: str, phrase: str) -> bool:
    """Whether ``text`` holds ``phrase`` (literal, any case) at least once outside a
    negation's scope: "Small left pleural effusion." affirms "effusion", "No pleural
    effusion." and "No effusion or pneumothorax." do not. A phrase that spans clauses (it
    holds a full stop, "but"...) has no one scope to read, so any occurrence counts."""
    needle = (phrase or "").strip().lower()
    if not needle or needle not in (text or "").lower():
        return False
    if _CLAUSE.search(needle):
        return True
    for clause in clauses(text):
        start = clause.find(needle)
        while start >= 0:
            if not negated(clause, start, start + len(needle)):
                return True
            start = clause.find(needle, start + 1)
    return False
