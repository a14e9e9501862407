"""Draft chest X-ray reports: retrieval context -> prompt -> LLM backend, with provenance.

``python -m eclip.report --checkpoint DIR --image FILE`` streams a draft to stdout.
"""

from eclip.report.api import draft_for_pixels, open_index
from eclip.report.backends import BACKENDS, CHOICES, make_backend, select_backend
from eclip.report.base import Backend, Health
from eclip.report.context import ReportContext, Term, build_context
from eclip.report.draft import DraftStream, Provenance
from eclip.report.evidence import EvidenceCheck, ZeroShot, check_draft
from eclip.report.prompt import DISCLAIMER, Prompt, render_prompt
from eclip.report.settings import ReportSettings, load_settings

__all__ = ["BACKENDS", "CHOICES", "DISCLAIMER", "Backend", "DraftStream", "EvidenceCheck", "Health",
           "Prompt", "Provenance", "ReportContext", "ReportSettings", "Term", "ZeroShot", "build_context",
           "check_draft", "draft_for_pixels", "load_settings", "make_backend", "open_index",
           "render_prompt", "select_backend"]
