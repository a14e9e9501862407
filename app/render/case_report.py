"""A case report: one self-contained HTML file (images as data URIs) and its PNG rendering.

Pure code, no Streamlit: the pages gather a ``CaseReport`` (app/components/report_export.py) and this
module writes it. Every text that came from a dataset, a model or a visitor goes through
``html.escape``; the file loads nothing from anywhere (no script, no font, no link), so it
opens offline and the PNG renderer can refuse every request.

What a report never holds: a patient identifier. An upload is named "uploaded image"; its
facts are the decoder's display facts (format, size, modality, view), never its header's
names, ids or institution, and never the uploaded file's name.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.core.chromium import CHROME_ARGS, CHROMIUM, chromium_available
from eclip.errors import EclipError

DISCLAIMER_TEXT = "draft — not a diagnosis"
WIDTH = 1100  # px of the PNG: two 512-px maps side by side and the text beside them
NO_CHROMIUM = (f"No Chromium at {CHROMIUM}, so no PNG: install it with `make browser` "
               "(apt-get install chromium). The HTML report holds everything.")


@dataclass(frozen=True)
class Figure:
    """One image of the report: the radiograph with its overlays, and what they mean."""

    title: str
    png: bytes
    legend: tuple[str, ...] = ()  # one line per overlay: what it shows, its colours
    scores: dict[str, float] | None = None  # agreement with the gaze, when measured


@dataclass(frozen=True)
class Draft:
    text: str
    evidence: dict  # eclip.report.check_draft(...).as_dict()
    provenance: dict  # eclip.report.Provenance.as_dict()


@dataclass(frozen=True)
class ModelSummary:
    name: str
    role: str  # "active" or "compare with"
    arch: str = "?"
    steps: str = "?"
    data_fingerprint: str = "?"
    weights_sha256: str = "?"
    trained_on: str = "?"  # the card's training data: "simulated films: demo (...)"

    @classmethod
    def from_card(cls, name: str, role: str, card: dict) -> ModelSummary:
        """The card.json facts a reader needs to know which model drew the maps."""
        from eclip.model.card import ModelCard  # lazy: torch (eclip.model); to_png runs without it

        get = lambda key: str(card.get(key) or "?")
        data = ModelCard.from_dict(card).training_data
        kind = {True: "simulated films", False: "not simulated"}.get(data.simulated, "not stated")
        return cls(name, role, get("arch"), get("steps"), get("data_fingerprint"), get("weights_sha256"),
                   f"{kind}: {data.source}" if data.source else kind)


@dataclass(frozen=True)
class CaseReport:
    case: str  # the case id, or "uploaded image"
    page: str  # the page it was exported from
    simulated: bool  # the case is a simulated film
    figures: tuple[Figure, ...] = ()
    facts: tuple[str, ...] = ()  # split, view, labels...; an upload's display facts
    reading: tuple[tuple[str, str], ...] = ()  # the radiologist's report: (section, text)
    reading_credit: str = ""  # the report text's attribution (Open-I's licence), shown under it
    # (finding, probability[, how it was made: calibrated on the validate split and the finding's
    # validate base rate, or why not]), most likely first
    zero_shot: tuple[tuple, ...] = ()
    zero_shot_calibration: str = ""  # the calibration's summary line (ZeroShotCalibration.summary)
    draft: Draft | None = None
    models: tuple[ModelSummary, ...] = ()
    warnings: tuple[str, ...] = ()  # e.g. the simulated-data banner
    typicality: str = ""  # the image under the active model's own training images, or why not
    gaze_answer: tuple[str, str] | None = None  # (question, answer) from the active model's card, as the app words it
    version: str = ""
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def file_stem(self) -> str:
        """``demo00601_model-vs-gaze_case_report``: the page in the name, so exports of one case
        from two pages do not overwrite each other in a downloads folder."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.case)
        page = "-".join("".join(c if c.isalnum() else " " for c in self.page.lower()).split())
        return f"{safe}_{page}_case_report" if page else f"{safe}_case_report"


# --------------------------------------------------------------------------- HTML
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#111;
  max-width:1050px;font-size:15px;line-height:1.4}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:20px 0 6px;border-bottom:1px solid #ddd}
.mark{display:inline-block;padding:2px 8px;border-radius:4px;font-weight:700;margin-right:6px}
.sim{background:#ffb300;color:#111}.draftmark{background:#c62828;color:#fff}
.warn{background:#fdecea;border-left:4px solid #c62828;padding:8px 12px;margin:8px 0}
.figs{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;width:500px}
figure img{width:500px;image-rendering:pixelated;border:1px solid #ccc}
figcaption{font-size:13px}table{border-collapse:collapse;margin:4px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;overflow-wrap:anywhere;word-break:break-word}
td.n{text-align:right}
.muted{color:#555;font-size:13px}pre{white-space:pre-wrap;background:#f6f6f6;padding:10px;
  border:1px solid #ddd}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table(rows: list[list], head: list[str]) -> str:
    cell = lambda v: f'<td class="n">{v:.3f}</td>' if isinstance(v, float) else f"<td>{_e(v)}</td>"
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + f"</tr>{body}</table>"


def _header(r: CaseReport) -> str:
    marks = '<span class="mark sim">SIMULATED</span>' if r.simulated else ""
    facts = f'<p class="muted">{_e(" · ".join(r.facts))}</p>' if r.facts else ""
    warns = "".join(f'<div class="warn">{_e(w)}</div>' for w in r.warnings)
    if r.typicality:
        warns += f'<p class="muted">Typicality under the active model: {_e(r.typicality)}</p>'
    return (f"<h1>eCLIP case report: {_e(r.case)}</h1><p>{marks}"
            f'<span class="mark draftmark">{_e(DISCLAIMER_TEXT)}</span>'
            f'<span class="muted">from the {_e(r.page)} page</span></p>{facts}{warns}')


def _figure(f: Figure) -> str:
    legend = "".join(f"<br>{_e(line)}" for line in f.legend)
    scores = (" · ".join(f"{_e(k.upper().replace('_', '-'))} {v:.3f}" for k, v in f.scores.items())
              if f.scores else "")
    return (f'<figure><img alt="{_e(f.title)}" src="{data_uri(f.png)}"><figcaption><b>{_e(f.title)}'
            f"</b>{legend}{'<br>agreement with the gaze: ' + scores if scores else ''}</figcaption></figure>")


def _figures(r: CaseReport) -> str:
    if not r.figures:
        return ""
    body = '<div class="figs">' + "".join(_figure(f) for f in r.figures) + "</div>"
    scored = [f for f in r.figures if f.scores]
    if len(scored) == 2:  # two models against one gaze: the paper's comparison, as a table
        names = list(scored[0].scores)
        rows = [[f.title, *[f.scores[n] for n in names]] for f in scored]
        rows.append(["difference (first − second)", *[scored[0].scores[n] - scored[1].scores[n] for n in names]])
        body += ("<h2>Agreement with the radiologist's gaze</h2>"
                 + _table(rows, ["map", *[n.upper().replace("_", "-") for n in names]])
                 + '<p class="muted">KL: lower is better; CC, NSS, AUC-Judd: higher is better.</p>')
    return "<h2>Radiograph and maps</h2>" + body


def _reading(r: CaseReport) -> str:
    if not r.reading:
        return ""
    credit = f'<p class="muted">{_e(r.reading_credit)}</p>' if r.reading_credit else ""
    return "<h2>The radiologist's report</h2>" + "".join(
        f"<p><b>{_e(section)}</b><br>{_e(text) or '<i>none recorded</i>'}</p>" for section, text in r.reading) + credit


def _zero_shot(r: CaseReport) -> str:
    if not r.zero_shot:
        return ""
    notes = any(len(z) > 2 for z in r.zero_shot)
    rows = [[z[0], float(z[1]), *([z[2] if len(z) > 2 else ""] if notes else [])] for z in r.zero_shot]
    summary = f" {_e(r.zero_shot_calibration)}" if r.zero_shot_calibration else ""
    return ("<h2>Zero-shot findings (active model)</h2>"
            + _table(rows, ["finding", "probability", *(["calibration and validate base rate"] if notes else [])])
            + '<p class="muted">CheXzero-style positive/negative prompt pairs '
              f"(eclip/assets/prompts/binary.json).{summary}</p>")


def _draft(r: CaseReport) -> str:
    d = r.draft
    if d is None:
        return ""
    conflicts = d.evidence.get("conflicts") or []
    check = "".join(f"<li><b>{_e(c.get('finding'))}</b> (zero-shot p = {float(c.get('probability', 0)):.2f}): "
                    + ("the draft does not mention it" if c.get("kind") == "ignores" else
                       f"the draft {'says absent' if c.get('kind') == 'denies' else 'says present'}: "
                       f"“{_e(c.get('words'))}”") + "</li>" for c in conflicts)
    check = (f"<p>Disagrees with the zero-shot findings on:</p><ul>{check}</ul>" if conflicts else
             f"<p>No disagreement with the zero-shot findings ({_e(d.evidence.get('checked', 0))} "
             "finding(s) the draft takes a position on; no likely finding left unmentioned).</p>")
    issues = [i.get("message", "") for i in (d.evidence.get("repeats") or []) + (d.evidence.get("laterality") or [])]
    if issues:
        check += "<p>Repetition and contradictions:</p><ul>" + "".join(f"<li>{_e(m)}</li>" for m in issues) + "</ul>"
    prov = _table([[k, _value(v)] for k, v in d.provenance.items()], ["provenance", "value"])
    return (f'<h2>Draft report <span class="mark draftmark">{_e(DISCLAIMER_TEXT)}</span></h2>'
            f"<pre>{_e(d.text)}</pre>{check}{prov}")


def _value(v) -> str | int | float:
    """A provenance value for a table cell: a list (the retrieved case ids) as "a, b, c"."""
    if isinstance(v, str | int | float):
        return v
    if isinstance(v, list | tuple):
        return ", ".join(map(str, v))
    return str(v)


def _models(r: CaseReport) -> str:
    if not r.models:
        return ""
    rows = [[m.name, m.role, m.arch, m.steps, m.trained_on, m.data_fingerprint, m.weights_sha256]
            for m in r.models]
    answer = ""
    if r.gaze_answer is not None:
        question, said = r.gaze_answer
        answer = f"<p><b>{_e(question)}</b><br>{_e(said)}</p>"
    return "<h2>Model card</h2>" + _table(rows, ["model", "role", "architecture", "steps", "trained on",
                                                 "data fingerprint", "weights SHA-256"]) + answer


def _footer(r: CaseReport) -> str:
    return (f'<p class="muted">eCLIP Explorer {_e(r.version)} · exported '
            f"{_e(r.created.strftime('%Y-%m-%d %H:%M:%S %Z'))} · {_e(DISCLAIMER_TEXT)}: "
            "a research demonstration, not for clinical use.</p>")


def to_html(r: CaseReport) -> str:
    """The whole report as one HTML document; it references nothing outside itself."""
    parts = (_header(r), _figures(r), _reading(r), _zero_shot(r), _draft(r), _models(r), _footer(r))
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>eCLIP case report: {_e(r.case)}</title><style>{CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>")


# --------------------------------------------------------------------------- PNG
def to_png(document: str, chromium: str = CHROMIUM, width: int = WIDTH) -> bytes:
    """``document`` rendered by headless Chromium (through Playwright), the full page.
    Every request is refused: the report is self-contained, and a server exporting it
    must reach nothing. Raises EclipError when Chromium is missing or fails."""
    if not chromium_available(chromium):
        raise EclipError(NO_CHROMIUM)
    # Playwright's sync API refuses to run in a thread with an asyncio loop (the Streamlit
    # server's); a fresh thread has none.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_render, document, chromium, width).result()


def _render(document: str, chromium: str, width: int) -> bytes:
    from playwright.sync_api import Error, sync_playwright

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROME_ARGS)
            try:
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.route("**/*", lambda route: route.abort())
                page.set_content(document, wait_until="load")
                return page.screenshot(full_page=True, type="png")
            finally:
                browser.close()
    except Error as exc:
        raise EclipError(f"Chromium could not render the report ({str(exc).splitlines()[0]}); "
                         "download the HTML instead, or check `chromium --version`.") from exc
