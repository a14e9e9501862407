"""The presenter's tour: a TOML file of stops, each a case with a one-line talking point.

    [[stop]]
    case = "demo00601"
    title = "The map and the radiologist's gaze"
    point = "Same film, same prompt: the case where eCLIP's map follows the gaze most beyond CLIP's."
    chosen = "Chosen as the largest eCLIP − CLIP gap in CC among 27 cases."  # optional
    typical = "Mean over the 27: eCLIP 0.11, CLIP 0.10."  # optional: the split beside the case
    prompt = "Cardiomegaly."   # optional: the model maps' prompt (default: the first finding)
    outline = "Cardiomegaly"   # optional: a finding whose ground-truth mask is outlined

A top-level ``models = ["demo-eclip", "demo-clip"]`` (before the first stop) names the models the
talking points compare; the Presenter says so when its films show others.

The shipped tour is app/assets/tour.toml, written whole by ``python -m eclip.explain.tour``
(its header gives the command); $ECLIP_TOUR points at another, e.g. one for your own dataset.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from app.core.settings import AppSettings, settings
from eclip.errors import ConfigError

TOUR_ENV = "ECLIP_TOUR"
DEFAULT = AppSettings.tour
OPTIONAL = ("prompt", "chosen", "typical", "outline")


@dataclass(frozen=True)
class Stop:
    case: str
    title: str
    point: str
    prompt: str = ""
    chosen: str = ""  # how the case was picked
    typical: str = ""  # the same number over the split, beside the case's
    outline: str = ""  # a finding whose ground-truth mask the maps outline


def tour_file() -> Path:
    return settings().tour


def load(path: Path | None = None) -> list[Stop]:
    """The stops of the tour file, in order. Raises ConfigError naming the file and stop
    that is wrong."""
    path = path or tour_file()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Tour file {path}: {exc}. Fix it, or point ${TOUR_ENV} at another.") from exc
    stops = [_stop(path, i, s) for i, s in enumerate(raw.get("stop") or [])]
    if not stops:
        raise ConfigError(f"Tour file {path} has no [[stop]] entries: add one per case "
                          '(case = "ID", title = "...", point = "...").')
    return stops


def _stop(path: Path, i: int, raw: dict) -> Stop:
    missing = [k for k in ("case", "title", "point") if not str(raw.get(k, "")).strip()]
    if missing:
        raise ConfigError(f"Tour file {path}, stop {i + 1}: missing {', '.join(missing)} "
                          "(each [[stop]] needs case, title and point).")
    return Stop(str(raw["case"]), str(raw["title"]), str(raw["point"]),
                **{k: str(raw.get(k, "")).strip() for k in OPTIONAL})


def written_for(path: Path | None = None) -> tuple[str, ...]:
    """The models the tour's talking points were written for (its top-level ``models``, the
    checkpoint folder names ``python -m eclip.explain.tour`` compared); () for a tour that does
    not say, e.g. one written by hand."""
    path = path or tour_file()
    try:
        names = tomllib.loads(path.read_text(encoding="utf-8")).get("models") or []
    except (OSError, tomllib.TOMLDecodeError):
        return ()  # load() reports the file's problem
    return tuple(str(n) for n in names) if isinstance(names, list) else ()


def in_dataset(stops: list[Stop], ids) -> tuple[list[Stop], list[str]]:
    """(the stops whose case is in ``ids``, the case ids that are not)."""
    known = set(ids)
    return [s for s in stops if s.case in known], [s.case for s in stops if s.case not in known]
