"""The front door and the docs: every relative link and image in README.md, CHANGELOG.md and
docs/*.md resolves to a file in the repository (and a #fragment to a heading of that file);
the README stays short; no tracker words reach what a user reads; CITATION.cff parses."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML = re.compile(r"""<(?:img|a)\s[^>]*?(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def _prose(text: str) -> list[str]:
    """The lines a reader sees as Markdown: fenced code blocks and code spans removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        lines.append("" if fenced else _CODE_SPAN.sub("", line))
    return lines


def links(text: str) -> list[str]:
    return [m.group(1) for line in _prose(text) for rx in (_LINK, _HTML) for m in rx.finditer(line)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(text: str) -> set[str]:
    found, seen = set(), {}
    for line in _prose(text.replace("`", "")):  # a heading's code span keeps its words
        m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def _problems(page: Path, root: Path = ROOT) -> list[str]:
    out = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        path, _, fragment = unquote(target).partition("#")
        dest = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(root)}: {target}"
        if not dest.exists():
            out.append(f"{where} (no such file)")
        elif root.resolve() not in (dest, *dest.parents):
            out.append(f"{where} (outside the repository)")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest.read_text(encoding="utf-8")):
            out.append(f"{where} (no heading #{fragment})")
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_image_resolves(page):
    assert page.exists()
    assert not _problems(page)


def test_the_checker_sees_links_images_and_anchors(tmp_path):
    text = ("# A `code` title: the (best) one\n\n![img](pic.png) [doc](other.md#a-code-title-the-best-one) "
            "[web](https://example.org) `[not](a-link.md)`\n```\n[nor](this.md)\n```\n## Twice\n## Twice\n")
    assert links(text) == ["pic.png", "other.md#a-code-title-the-best-one", "https://example.org"]
    assert anchors(text) == {"a-code-title-the-best-one", "twice", "twice-1"}
    assert slug("The paper's protocol: MIMIC-CXR-JPG + EGD-CXR with pretrained towers") == \
        "the-papers-protocol-mimic-cxr-jpg--egd-cxr-with-pretrained-towers"
    page = tmp_path / "page.md"
    page.write_text("[gone](missing.md) [here](#nowhere) [up](../x.md) ![ok](page.md)\n")
    (tmp_path.parent / "x.md").write_text("# x\n")
    assert _problems(page, tmp_path) == ["page.md: missing.md (no such file)",
                                         "page.md: #nowhere (no heading #nowhere)",
                                         "page.md: ../x.md (outside the repository)"]


def test_the_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    head = "\n".join(text.splitlines()[:10])
    assert "Research use only" in head and "not for diagnosis" in head
    for command in ("make run", "make test"):
        assert command in text
    shots = [t for t in links(text) if t.endswith(".png")]
    assert len(shots) == 2  # two screenshots: the Case browser and the Presenter as a room sees it
    assert "assets/screenshots/presenter-1280x720.png" in shots
    for doc in ("app", "data", "training", "evaluation", "results", "benchmarks", "architecture", "settings"):
        assert f"docs/{doc}.md" in links(text), doc


_TRACKER = re.compile(r"\bissues?\s+#?\d+|(?<![\w/&])#\d{1,3}\b|\bthe issue\b", re.IGNORECASE)


def test_no_tracker_words_where_a_user_reads():
    pages = [*PAGES, ROOT / "NOTICE"]
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in pages
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if _TRACKER.search(line)]
    for card in sorted((ROOT / "checkpoints").glob("demo-*/card.json")):
        text = json.dumps(json.loads(card.read_text()))
        hits += [f"{card.relative_to(ROOT)}: {m.group(0)}" for m in _TRACKER.finditer(text)]
    assert not hits


def test_citation_cff_cites_the_software_and_the_paper():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["license"] == "Apache-2.0"
    paper = cff["preferred-citation"]
    assert paper == cff["references"][0]
    assert paper["title"] == "Improving Medical Multi-modal Contrastive Learning with Expert Annotations"
    assert [a["family-names"] for a in paper["authors"]] == ["Kumar", "Marttinen"] and paper["year"] == 2024
    assert "ECCV 2024" in paper["conference"]["name"]
