"""From a report's MeSH major terms to what the simulated film must show.

Each supported term becomes a ``Finding`` (with laterality, severity and zone read from
its modifiers); a few non-finding terms change the anatomy instead (poor or hyper-
inflation, an elevated hemidiaphragm, scoliosis, a tortuous aorta). Everything else is
listed as ``unrendered``: such a report is drawn with the findings we can draw (a report
whose only terms are unrendered gets a normal-looking film) — the manifest keeps the true
report text and labels either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from eclip.data.reports import mesh_to_labels, parse_mesh_term
from eclip.errors import ReportFormatError

from .findings import Finding
from .phantom import Anatomy

SEVERITY_WORDS = {
    "borderline": 0.35, "minimal": 0.4, "mild": 0.55, "small": 0.55, "moderate": 1.0,
    "large": 1.35, "severe": 1.4, "extensive": 1.4,
}
DEFAULT_SEVERITY = 0.8
KIND_LABEL = {  # fallback mask key when mesh_to_labels maps the term to nothing
    "cardiomegaly": "Cardiomegaly", "effusion": "Pleural Effusion", "atelectasis": "Atelectasis",
    "opacity": "Lung Opacity", "consolidation": "Consolidation", "nodule": "Lung Lesion",
    "granuloma": "Lung Lesion", "edema": "Edema", "pneumothorax": "Pneumothorax",
    "device": "Support Devices",
}
SUPPORTED_KINDS = tuple(KIND_LABEL)


@dataclass
class CasePlan:
    findings: list[Finding] = field(default_factory=list)
    anatomy_terms: list[str] = field(default_factory=list)  # terms drawn as anatomy changes
    unrendered: list[str] = field(default_factory=list)  # terms we cannot draw

    @property
    def is_normal(self) -> bool:
        return not self.findings


def _side(mods: list[str]) -> str:
    for m in mods:
        if m in ("right", "left", "bilateral"):
            return m
    return ""


def _zone(mods: list[str]) -> str:
    joined = " ".join(mods)
    for key, zone in (("retrocardiac", "retrocardiac"), ("lingula", "lingula"),
                      ("middle lobe", "middle"), ("hilum", "hilum"), ("upper lobe", "upper"),
                      ("apex", "upper"), ("base", "base"), ("lower lobe", "base"),
                      ("abdomen", "abdomen")):
        if key in joined:
            return zone
    return ""


def _severity(mods: list[str]) -> float:
    for m in mods:
        if m in SEVERITY_WORDS:
            return SEVERITY_WORDS[m]
    return DEFAULT_SEVERITY


def _count(mods: list[str], rng: np.random.Generator, many: bool = False) -> int:
    if many or any(m in ("multiple", "scattered", "diffuse", "multilobar") for m in mods):
        return int(rng.integers(2, 5))
    return 1


def _kind_and_subtype(name: str, mods: list[str], rng) -> tuple[str, str] | None:
    joined = " ".join(mods)
    table = {
        "cardiomegaly": ("cardiomegaly", ""),
        "pleural effusion": ("effusion", ""),
        "pulmonary atelectasis": ("atelectasis", ""),
        "atelectasis": ("atelectasis", ""),
        "opacity": ("opacity", ""),
        "airspace disease": ("opacity", ""),
        "infiltrate": ("opacity", ""),
        "consolidation": ("consolidation", ""),
        "pneumonia": ("consolidation", ""),
        "pulmonary edema": ("edema", ""),
        "pulmonary congestion": ("edema", ""),
        "pneumothorax": ("pneumothorax", ""),
        "nodule": ("nodule", ""),
        "mass": ("nodule", "mass"),
        "calcified granuloma": ("granuloma", ""),
        "granuloma": ("granuloma", ""),
        "granulomatous disease": ("granuloma", ""),
        "catheters, indwelling": ("device", "line"),
        "implanted medical device": ("device", "pacemaker"),
        "sternotomy": ("device", "sternotomy"),
        "sutures": ("device", "sternotomy"),
    }
    if name in table:
        outside_lungs = ("breast", "mediastinum", "abdomen", "neck", "shoulder")
        if name in ("nodule", "mass") and any(s in joined for s in outside_lungs):
            return None
        if name == "opacity" and mods and "lung" not in joined and _zone(mods) == "":
            return None  # opacities of other sites (e.g. "Opacity/spine") are not lung findings
        return table[name]
    if name == "density" and any(k in joined for k in ("lung", "retrocardiac")):
        return ("opacity", "")
    if name == "cardiac shadow" and "enlarged" in joined:
        return ("cardiomegaly", "")
    if name == "costophrenic angle" and "blunted" in joined:
        return ("effusion", "")
    if name == "hydropneumothorax":
        return ("pneumothorax", "")
    if name == "tube, inserted":
        return ("device", "ett" if rng.random() < 0.65 else "ngt")
    if name == "surgical instruments":
        return ("device", "sternotomy" if "mediastinum" in joined or "sternum" in joined else "clips")
    if name in ("medical device", "stents"):
        return ("device", "clips" if rng.random() < 0.5 else "line")
    return None


def plan_from_mesh(mesh_major: list[str], rng: np.random.Generator) -> CasePlan:
    """Turn MeSH major terms into findings to draw (deterministic given ``rng``)."""
    plan = CasePlan()
    for term in mesh_major:
        try:
            name, mods = parse_mesh_term(term)
        except ReportFormatError:
            continue
        low, lmods = name.lower(), [m.lower() for m in mods]
        if low in ("normal", "no indexing", "technical quality of image unsatisfactory"):
            continue
        ks = _kind_and_subtype(low, lmods, rng)
        if ks is None:
            (plan.anatomy_terms if anatomy_change(low, lmods) else plan.unrendered).append(term)
            continue
        kind, subtype = ks
        labels = tuple(k for k, v in mesh_to_labels([term]).items() if v == 1.0 and k != "No Finding")
        side, zone = _side(lmods), _zone(lmods)
        if zone == "middle":
            side = "right"
        elif zone in ("lingula", "retrocardiac") and not side:
            side = "left"
        sev = _severity(lmods)
        if low == "pulmonary congestion":
            sev *= 0.7
        elif low == "costophrenic angle":  # blunting = a small effusion
            sev = min(sev, 0.45)
        count = _count(lmods, rng, many=(low == "granulomatous disease")) if kind in (
            "nodule", "granuloma", "opacity", "consolidation") else 1
        f = Finding(kind=kind, side=side, severity=sev, zone=zone, count=count, subtype=subtype,
                    label="|".join(labels or (KIND_LABEL[kind],)), mesh=term)
        plan.findings.append(f)
        if low == "hydropneumothorax":
            plan.findings.append(replace(f, kind="effusion", severity=0.55, label="Pleural Effusion"))
    return plan


_HYPER = ("emphysema", "pulmonary emphysema", "pulmonary disease, chronic obstructive")


def anatomy_change(name: str, mods: list[str]) -> bool:
    joined = " ".join(mods)
    return (
        (name == "lung" and ("hypoinflation" in joined or "hyperdistention" in joined))
        or name in _HYPER
        or (name in ("diaphragm", "diaphragmatic eventration"))
        or name == "scoliosis"
        or (name in ("aorta", "aorta, thoracic") and "tortuous" in joined)
        or (name == "atherosclerosis" and "aorta" in joined)
    )


def apply_anatomy_terms(a: Anatomy, terms: list[str]) -> Anatomy:
    """Inflation, diaphragm, spine and aorta terms change the phantom itself (no mask)."""
    for term in terms:
        name, mods = parse_mesh_term(term)
        name, joined = name.lower(), " ".join(m.lower() for m in mods)
        sev = _severity([m.lower() for m in mods])
        if name == "lung" and "hypoinflation" in joined:
            up = 1.2 + 1.6 * sev
            a = replace(a, dome_r=a.dome_r - up, dome_l=a.dome_l - up, heart_hw=a.heart_hw * 1.04)
        elif (name == "lung" and "hyperdistention" in joined) or name in _HYPER:
            down = 1.0 + 1.5 * sev
            a = replace(a, dome_r=a.dome_r + down, dome_l=a.dome_l + down, cp_drop=a.cp_drop * 0.6,
                        heart_hw=a.heart_hw * 0.92, vessel_scale=a.vessel_scale * 0.85)
        elif name in ("diaphragm", "diaphragmatic eventration"):
            if "flattened" in joined:
                a = replace(a, cp_drop=a.cp_drop * 0.55, dome_r=a.dome_r + 0.8, dome_l=a.dome_l + 0.8)
            elif "left" in joined:
                a = replace(a, dome_l=a.dome_l - 2.5 * (0.6 + sev / 2))
            else:
                a = replace(a, dome_r=a.dome_r - 2.5 * (0.6 + sev / 2))
        elif name == "scoliosis":
            a = replace(a, scoliosis=1.5 if a.scoliosis >= 0 else -1.5)
        else:  # tortuous / atherosclerotic aorta: a bigger knob
            a = replace(a, knob=max(a.knob, 1.35))
    return a
