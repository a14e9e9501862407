"""Radiology report parsing: MIMIC-CXR free text and Indiana University (NLMCXR) XML.

MIMIC-CXR reports are free text with upper-case section headers ("FINDINGS:",
"IMPRESSION:", ...), sometimes run together on one line after "FINAL REPORT", sometimes in
mixed case or without the colon. NLMCXR reports are XML with <AbstractText Label=...>
sections and MeSH <major> terms, which ``mesh_to_labels`` maps onto the CheXpert label
columns of the dataset contract.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from xml.etree import ElementTree as ET

from eclip.data.manifest import LABELS
from eclip.errors import ReportFormatError

log = logging.getLogger(__name__)

NLMCXR_TGZ_NAME = "NLMCXR_reports.tgz"


def report_text(findings: str, impression: str) -> str:
    """The text an image is paired with: FINDINGS, or IMPRESSION when findings are empty
    (the eCLIP recipe trains on findings)."""
    text = (findings or "").strip()
    return text if text else (impression or "").strip()


def normalize_ws(text: str | None) -> str:
    """Collapse every whitespace run to one space and strip."""
    return re.sub(r"\s+", " ", text or "").strip()


def normalized_report(findings: str | None, impression: str | None) -> str:
    """A report's identity as text: findings and impression, lower case, letters and digits
    only, single spaces. Open-I repeats the same normal report under hundreds of uids, so a
    split or a "never seen" check keyed on the uid alone lets the same words into train and
    test."""
    text = f"{findings or ''} {impression or ''}".lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


# ----------------------------------------------------------------------------- MIMIC-CXR


@dataclass(frozen=True)
class MimicReport:
    findings: str
    impression: str
    text: str  # the whole report, whitespace-normalised


_FINDINGS_NAMES = {"FINDINGS", "FINDING"}
# A combined section is the radiologist's conclusion: it goes to the impression
# (the MIMIC-CXR section parser makes the same choice), findings stay "".
_IMPRESSION_NAMES = {
    "IMPRESSION", "IMPRESSIONS", "CONCLUSION", "CONCLUSIONS",
    "FINDINGS AND IMPRESSION", "FINDINGS AND IMPRESSIONS", "IMPRESSION AND FINDINGS",
    "FINDINGS/IMPRESSION", "FINDINGS / IMPRESSION", "IMPRESSION/FINDINGS",
}
# Other MIMIC headers, recognised anywhere (they end the section before them).
_OTHER_NAMES = (
    "FINAL REPORT", "EXAMINATION", "EXAM", "TYPE OF EXAMINATION", "INDICATION", "INDICATIONS",
    "HISTORY", "CLINICAL HISTORY", "CLINICAL INFORMATION", "REASON FOR EXAM",
    "REASON FOR EXAMINATION", "TECHNIQUE", "COMPARISON", "COMPARISONS", "WET READ",
    "NOTIFICATION", "RECOMMENDATION", "RECOMMENDATIONS", "RECOMMENDATION(S)", "ADDENDUM",
    "PROCEDURE", "STUDY",
)
_TARGET_ALT = "|".join(
    re.escape(n).replace(r"\ ", r"\s+")
    for n in sorted(_FINDINGS_NAMES | _IMPRESSION_NAMES, key=len, reverse=True)
)
_OTHER_ALT = "|".join(re.escape(n).replace(r"\ ", r"\s+")
                      for n in sorted(_OTHER_NAMES, key=len, reverse=True))
_HEADER_PATTERNS = (
    # Target headers with a colon, any case, anywhere (also mid-line after FINAL REPORT).
    re.compile(rf"(?<![A-Za-z])({_TARGET_ALT})\s*:", re.IGNORECASE),
    # Other known headers with a colon: upper case anywhere, any case at a line start
    # (a lower-case "exam:" mid-sentence is prose, not a header).
    re.compile(rf"(?<![A-Za-z])({_OTHER_ALT})\s*:"),
    re.compile(rf"(?im)^[ \t]*({_OTHER_ALT})\s*:"),
    # "FINAL REPORT" carries no colon.
    re.compile(r"(?<![A-Za-z])(FINAL\s+REPORT)(?![A-Za-z])"),
    # Upper-case target header without a colon at a line start ("IMPRESSION  No acute ...").
    re.compile(rf"(?m)^[ \t]*({_TARGET_ALT})(?![A-Za-z:])"),
    # Any-case target header alone on its line ("Impression" then the text below).
    re.compile(rf"(?im)^[ \t]*({_TARGET_ALT})[ \t]*$"),
)


def _find_headers(text: str) -> list[tuple[int, int, str]]:
    """(start, end, canonical name) of every header, earliest first, overlaps removed."""
    found = []
    for pat in _HEADER_PATTERNS:
        for m in pat.finditer(text):
            found.append((m.start(1), m.end(), normalize_ws(m.group(1)).upper()))
    found.sort(key=lambda h: (h[0], -h[1]))
    headers: list[tuple[int, int, str]] = []
    for h in found:
        if headers and h[0] < headers[-1][1]:
            continue  # inside a header already taken (e.g. FINDINGS within FINDINGS AND ...)
        headers.append(h)
    return headers


def _last_paragraph(text: str) -> str:
    """The last non-empty paragraph, without a leading header label."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    for para in reversed(paragraphs):
        heads = _find_headers(para)
        if heads and not para[:heads[0][0]].strip():
            para = para[heads[0][1]:].lstrip(":")
        body = normalize_ws(para)
        if body:
            return body
    return ""


def parse_mimic_report(text: str) -> MimicReport:
    """Split a MIMIC-CXR report into findings and impression (whitespace-normalised).

    Header variants handled: "FINDINGS:", "IMPRESSION:", "CONCLUSION:", "FINDINGS AND
    IMPRESSION:" (-> impression), mixed/lower case with a colon, upper case without colon at
    a line start, a header alone on its line, headers mid-line after "FINAL REPORT". A
    section repeated (e.g. in an addendum) is concatenated. A report with neither section
    gets its last paragraph as the impression and findings "" - in MIMIC the closing
    paragraph is where the conclusion sits when a radiologist wrote no headers.
    """
    if not isinstance(text, str):
        raise ReportFormatError(f"report text must be str, got {type(text).__name__}.")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    headers = _find_headers(text)
    sections: dict[str, list[str]] = {"findings": [], "impression": []}
    for i, (_start, end, name) in enumerate(headers):
        stop = headers[i + 1][0] if i + 1 < len(headers) else len(text)
        body = normalize_ws(text[end:stop].lstrip(":"))
        key = ("findings" if name in _FINDINGS_NAMES
               else "impression" if name in _IMPRESSION_NAMES else None)
        if key and body:
            sections[key].append(body)
    findings = " ".join(sections["findings"])
    impression = " ".join(sections["impression"])
    if not findings and not impression and not any(
            n in _FINDINGS_NAMES | _IMPRESSION_NAMES for _, _, n in headers):
        impression = _last_paragraph(text)
    return MimicReport(findings=findings, impression=impression, text=normalize_ws(text))


# ----------------------------------------------------------------------------- NLMCXR XML


@dataclass
class OpenIReport:
    uid: str
    findings: str
    impression: str
    mesh_major: list[str] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    indication: str = ""
    comparison: str = ""


def parse_nlmcxr_xml(data: bytes | str, source: str = "<xml>") -> OpenIReport:
    """Parse one NLMCXR report (``ecgen-radiology/<n>.xml``). ``source`` names it in errors."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ReportFormatError(f"{source}: not well-formed XML ({exc}).") from exc
    uid_el = root.find(".//uId")
    uid = (uid_el.get("id") or "").strip() if uid_el is not None else ""
    if not uid:
        raise ReportFormatError(f"{source}: no <uId id=...> element; not an NLMCXR report "
                                f"(root element <{root.tag}>).")
    sections = {}
    for el in root.iter("AbstractText"):
        label = (el.get("Label") or "").strip().upper()
        if label:
            sections[label] = normalize_ws("".join(el.itertext()))
    majors = [normalize_ws(el.text) for el in root.iter("major") if normalize_ws(el.text)]
    images = [(el.get("id") or "").strip() for el in root.iter("parentImage")]
    images = [i for i in images if i]
    return OpenIReport(
        uid=uid,
        findings=sections.get("FINDINGS", ""),
        impression=sections.get("IMPRESSION", ""),
        mesh_major=majors,
        image_ids=images,
        indication=sections.get("INDICATION", ""),
        comparison=sections.get("COMPARISON", ""),
    )


def default_nlmcxr_tgz() -> Path:
    """The reports tarball inside the installed torchxrayvision package (located without
    importing it, which would import torch)."""
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise ReportFormatError(
            "torchxrayvision is not installed, so its bundled NLMCXR_reports.tgz is not "
            "available. Install requirements.txt or pass the path of NLMCXR_reports.tgz."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data" / NLMCXR_TGZ_NAME


def iter_nlmcxr_tgz(path: str | os.PathLike | None = None) -> Iterator[OpenIReport]:
    """Stream every report of an NLMCXR tarball (default: torchxrayvision's copy)."""
    path = Path(path) if path is not None else default_nlmcxr_tgz()
    if not path.is_file():
        raise ReportFormatError(f"{path}: NLMCXR reports tarball not found.")
    n = 0
    try:
        with tarfile.open(path, mode="r:gz") as tf:
            for member in tf:
                if not (member.isfile() and member.name.endswith(".xml")):
                    continue
                fh = tf.extractfile(member)
                data = fh.read() if fh is not None else b""
                n += 1
                yield parse_nlmcxr_xml(data, source=f"{path}:{member.name}")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ReportFormatError(f"{path}: corrupt or not a .tgz of NLMCXR XML reports "
                                f"(after {n} report(s)): {exc}") from exc
    if n == 0:
        raise ReportFormatError(f"{path}: the archive holds no .xml reports.")


# ----------------------------------------------------------------------------- MeSH -> labels


def parse_mesh_term(term: str) -> tuple[str, list[str]]:
    """"Pleural Effusion/right/small" -> ("Pleural Effusion", ["right", "small"])."""
    if not isinstance(term, str) or not normalize_ws(term.split("/")[0]):
        raise ReportFormatError(f"not a MeSH term: {term!r}.")
    parts = [normalize_ws(p) for p in term.split("/")]
    return parts[0], [p for p in parts[1:] if p]


@dataclass(frozen=True)
class _Rule:
    labels: tuple[str, ...]
    needs_any: tuple[str, ...] = ()  # modifiers of which one must be present
    not_if: tuple[str, ...] = ()  # modifiers that veto the rule (e.g. a non-lung site)


_LUNG = ("Lung Opacity",)
_DEVICE = ("Support Devices",)
_NON_LUNG_SITES = ("breast", "mediastinum", "paratracheal", "abdomen", "neck", "shoulder")
# Keys are lower-cased MeSH findings; covers every CheXpert-relevant major with >= 4 uses
# in the 3,955 NLMCXR reports. Findings without a CheXpert counterpart (Calcinosis,
# Cicatrix, Spine, Aorta, Emphysema, Lung/hypoinflation...) are ignored but still make the
# report abnormal (No Finding 0).
_MESH_RULES: dict[str, _Rule] = {
    "cardiomegaly": _Rule(("Cardiomegaly", "Enlarged Cardiomediastinum")),
    "cardiac shadow": _Rule(("Cardiomegaly", "Enlarged Cardiomediastinum"),
                            needs_any=("enlarged",)),
    "mediastinum": _Rule(("Enlarged Cardiomediastinum",),
                         needs_any=("enlarged", "prominent", "widened")),
    "pleural effusion": _Rule(("Pleural Effusion",)),
    "hydropneumothorax": _Rule(("Pneumothorax", "Pleural Effusion")),
    "hemopneumothorax": _Rule(("Pneumothorax", "Pleural Effusion")),
    "pneumothorax": _Rule(("Pneumothorax",)),
    "pulmonary atelectasis": _Rule(("Atelectasis",)),
    "atelectasis": _Rule(("Atelectasis",)),
    "opacity": _Rule(_LUNG),
    "density": _Rule(_LUNG, needs_any=("lung", "retrocardiac")),
    "airspace disease": _Rule(_LUNG),
    "infiltrate": _Rule(_LUNG),
    "consolidation": _Rule(_LUNG + ("Consolidation",)),
    "pneumonia": _Rule(("Pneumonia",)),
    "pulmonary edema": _Rule(("Edema",)),
    "pulmonary congestion": _Rule(("Edema",)),
    "nodule": _Rule(("Lung Lesion",), not_if=_NON_LUNG_SITES),
    "mass": _Rule(("Lung Lesion",), not_if=_NON_LUNG_SITES),
    "calcified granuloma": _Rule(("Lung Lesion",)),
    "granuloma": _Rule(("Lung Lesion",)),
    "granulomatous disease": _Rule(("Lung Lesion",)),
    "fractures, bone": _Rule(("Fracture",)),
    "catheters, indwelling": _Rule(_DEVICE),
    "tube, inserted": _Rule(_DEVICE),
    "medical device": _Rule(_DEVICE),
    "implanted medical device": _Rule(_DEVICE),
    "surgical instruments": _Rule(_DEVICE),
    "stents": _Rule(_DEVICE),
    "sternotomy": _Rule(_DEVICE),
    "thickening": _Rule(("Pleural Other",), needs_any=("pleura",)),
    "pleura": _Rule(("Pleural Other",)),
}
_NORMAL = "normal"
# Terms that say nothing about the patient: they neither make a report abnormal nor normal.
_NEUTRAL = {"no indexing", "technical quality of image unsatisfactory"}


def mesh_to_labels(mesh_major: list[str]) -> dict[str, float]:
    """CheXpert label dict (every column of ``LABELS``) from NLMCXR MeSH major terms.

    "normal" alone -> No Finding 1 and every other label 0. Any other finding makes the
    report abnormal: No Finding 0, the mapped labels 1, the rest NaN (not mentioned).
    Only neutral terms (e.g. "No Indexing") or none -> all NaN.
    """
    labels = {lab: float("nan") for lab in LABELS}
    findings = []
    for term in mesh_major:
        try:
            finding, mods = parse_mesh_term(term)
        except ReportFormatError:
            log.debug("ignoring malformed MeSH term %r", term)
            continue
        if finding.lower() not in _NEUTRAL:
            findings.append((finding.lower(), [m.lower() for m in mods]))
    abnormal = [f for f in findings if f[0] != _NORMAL]
    if not findings:
        return labels
    if not abnormal:
        return {lab: (1.0 if lab == "No Finding" else 0.0) for lab in LABELS}
    labels["No Finding"] = 0.0
    for finding, mods in abnormal:
        rule = _MESH_RULES.get(finding)
        if rule is None:
            continue
        if rule.needs_any and not any(any(n in m for n in rule.needs_any) for m in mods):
            continue
        if any(any(n in m for n in rule.not_if) for m in mods):
            continue
        for lab in rule.labels:
            labels[lab] = 1.0
    return labels
