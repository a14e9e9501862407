"""The shared import engine: source jobs -> a dataset folder under the manifest contract.

An importer (mimic, openi, folder) turns its source tables into a list of ``Job``s and
hands them to ``run_import``, which

* resizes every image once to the working resolution, in parallel across cores
  (``ProcessPoolExecutor``), with a tqdm progress bar;
* writes ``images/<id>.png`` and ``gaze/<id>.npz`` atomically (temp file + rename), the
  heatmap computed on the image's native pixel grid and resized to the stored image;
* appends each finished row to a journal (``.import/journal.jsonl``) only after its files
  exist, so a killed import loses at most the images in flight: rerunning the same command
  skips every journalled id whose inputs are unchanged (``Job.signature``) and never
  duplicates a row;
* writes ``manifest.csv`` atomically at the end, merged with the manifest already in the
  folder (earlier imports stay intact; a re-imported id replaces its own row only);
* skips images that fail to load (corrupt, truncated, over the pixel limit), counting and
  listing them in ``import_problems.csv`` rather than stopping.

Everything that can be checked before work starts (table columns, an unreadable existing
manifest, id collisions with another source) raises ``ImportFailed`` before any file is
written.

Test hook: with ``ECLIP_TEST_DIE_AFTER=N`` in the environment the importer process kills its
workers and ``os._exit``s right after journalling N images, simulating a crash mid-import so
tests can check resumption. It is read only here and has no other effect.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from eclip.errors import EclipError, ImportFailed, ManifestError
from eclip.data.manifest import (
    LABELS,
    MANIFEST,
    REQUIRED_COLUMNS,
    WORKING_SIZE,
    atomic_write_text,
    read_manifest,
    write_manifest,
)

log = logging.getLogger(__name__)

STATE_DIR = ".import"  # journal, staging files, patient salt (hidden, private)
JOURNAL = "journal.jsonl"
SALT_FILE = "patient_salt"
PROBLEMS = "import_problems.csv"
DIE_AFTER_ENV = "ECLIP_TEST_DIE_AFTER"


# ----------------------------------------------------------------------------- tables

def find_table(folder: Path, name: str) -> Path:
    """``folder/name`` or its ``.gz`` twin (MIMIC ships gzipped tables)."""
    for cand in (folder / name, folder / f"{name}.gz"):
        if cand.is_file():
            return cand
    raise ImportFailed(
        f"{folder / name} not found (nor {name}.gz). Point the option at the folder that "
        f"holds {name}."
    )


def read_table(path: Path, required: Sequence[str], what: str) -> pd.DataFrame:
    """Read a CSV as strings ('' for blanks) and insist on ``required`` columns."""
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"{what}: file {path} not found.")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises many types for broken CSVs
        raise ImportFailed(f"{what}: {path} is not a readable CSV file ({exc}).") from exc
    check_columns(df, required, path, what)
    return df


def check_columns(df: pd.DataFrame, required: Sequence[str], path: Path, what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ImportFailed(
            f"{what}: {path} lacks column(s) {missing}. Expected at least {list(required)}; "
            f"found {list(df.columns)}. Is this the right file?"
        )


def parse_label(value, where: str) -> float:
    """1 / 0 / -1 / blank (also 1.0, -1.0 ...) -> float or NaN; anything else is fatal."""
    text = str(value).strip() if value is not None else ""
    if text == "" or text.lower() == "nan":
        return math.nan
    try:
        num = float(text)
    except ValueError:
        num = None
    if num not in (1.0, 0.0, -1.0):
        raise ImportFailed(f"{where}: label value {value!r} is not 1, 0, -1 or blank.")
    return num


# ----------------------------------------------------------------------- patient keys

class PatientHasher:
    """Salted, truncated sha256 of a source patient id.

    Raw ids (MIMIC subject_id, hospital MRNs) are identifiers under the data-use
    agreements, so they never enter a manifest. An unsalted hash of an 8-digit id is
    reversible by enumerating all ids, so the salt is random per dataset folder, kept in
    ``<out>/.import/patient_salt`` (do not share it) and reused by later imports into the
    same folder so that one patient keeps one key.
    """

    def __init__(self, out: Path, salt: str | None = None):
        self.path = Path(out) / STATE_DIR / SALT_FILE
        if salt is not None:
            self.salt, self._new = salt, False
        elif self.path.is_file():
            self.salt, self._new = self.path.read_text().strip(), False
        else:
            self.salt, self._new = secrets.token_hex(16), True

    def __call__(self, patient_id: str) -> str:
        digest = hashlib.sha256(f"{self.salt}:{patient_id}".encode()).hexdigest()
        return "pk" + digest[:16]

    def save(self) -> None:
        if self._new:
            atomic_write_text(self.path, self.salt + "\n")
            self._new = False


def hashed_split(key: str, seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> str:
    """Deterministic train/validate/test assignment from a key (patient-level when the key
    is a patient's)."""
    h = int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:12], 16) / 16**12
    if h < fractions[0]:
        return "train"
    return "validate" if h < fractions[0] + fractions[1] else "test"


# ------------------------------------------------------------------------------- jobs

@dataclass(frozen=True)
class GazeSource:
    """One gaze reading of an image. kind 'egd': ``path`` is a fixations CSV in EGD-CXR
    columns (the rows of this dicom_id) with the image's padding; kind 'reflacx': ``path``
    is one reading's fixations.csv."""

    kind: str
    path: str
    dicom_id: str = ""
    padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    text: str = ""  # when set: content the engine writes to ``path`` before work starts

    def stamp(self) -> str:
        if self.text:
            return hashlib.sha256(self.text.encode()).hexdigest()[:16]
        return _file_stamp(self.path)


@dataclass
class Job:
    """One image to import. ``row`` holds the manifest fields the importer knows (text,
    split, view, labels...); the engine adds image_path, gaze_path, sizes, n_readings."""

    id: str
    source: str
    row: dict
    gaze: tuple[GazeSource, ...] = ()
    native_shape: tuple[int, int] | None = None  # (h, w) of the grid gaze coordinates use

    def signature(self) -> str:
        """Changes when anything that shapes this image's output changes (so a rerun with,
        say, --egd added redoes the image instead of skipping it)."""
        gaze_desc = [(g.kind, g.path, g.dicom_id, g.padding, g.stamp()) for g in self.gaze]
        blob = json.dumps(
            [self.source, _file_stamp(self.source), _clean(self.row), gaze_desc,
             self.native_shape, WORKING_SIZE],
            sort_keys=True, default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _file_stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size}"


def _clean(row: dict) -> dict:
    """JSON-safe copy: NaN -> None."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


@dataclass
class Problem:
    id: str
    path: str
    problem: str


@dataclass
class ImportSummary:
    out: Path
    planned: int = 0
    imported: int = 0
    skipped_done: int = 0
    failed: int = 0
    with_gaze: int = 0
    total_rows: int = 0
    problems: list[Problem] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"output: {self.out}",
            f"planned {self.planned}, imported {self.imported}, already done {self.skipped_done}, "
            f"failed {self.failed}, with gaze {self.with_gaze}",
            f"manifest rows now: {self.total_rows}",
        ]
        if self.problems:
            out.append(f"{len(self.problems)} problem(s) listed in {self.out / PROBLEMS}")
        return out


# ---------------------------------------------------------------------------- worker

def _worker_init() -> None:
    """Workers die with the importer (Linux), so a killed import leaves no orphans."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux / no libc: nothing to do
        pass


def process_job(job: Job, out: str, size: int = WORKING_SIZE) -> dict:
    """Load, resize and store one image (+ gaze). Runs in a worker process; returns a
    result dict (``row`` is None when the image could not be imported)."""
    from eclip.data import images

    out = Path(out)
    warnings: list[str] = []
    image_rel = f"images/{job.id}.png"
    try:
        loaded = images.load_image(job.source)
        work = images.to_working(loaded.pixels, size)
        images.save_png(work, out / image_rel)
    except EclipError as exc:
        return {"id": job.id, "row": None, "error": str(exc), "warnings": warnings}
    except (OSError, MemoryError):
        raise  # disk full, permissions: the whole import must stop and say so
    except Exception as exc:  # a decoder bug must not stop a 300k-image import
        return {"id": job.id, "row": None, "error": f"{type(exc).__name__}: {exc}",
                "warnings": warnings}
    h, w = loaded.pixels.shape[:2]
    row = dict(job.row)
    row.update(id=job.id, image_path=image_rel, orig_width=int(w), orig_height=int(h),
               gaze_path="", n_readings=0)
    if job.gaze:
        native = tuple(job.native_shape) if job.native_shape else (h, w)
        try:
            hm, n, warnings = _gaze_heatmap(job, native, work.shape[:2])
        except Exception as exc:  # keep the image; say why it has no gaze
            hm, n, warnings = None, 0, [f"gaze not attached: {type(exc).__name__}: {exc}"]
        if hm is not None:
            gaze_rel = f"gaze/{job.id}.npz"
            _save_heatmap_atomic(out / gaze_rel, hm)
            row.update(gaze_path=gaze_rel, n_readings=n)
    return {"id": job.id, "row": _clean(row), "error": None, "warnings": warnings}


def _gaze_heatmap(job: Job, native: tuple[int, int], shape: tuple[int, int]):
    """Average of the image's readings, each normalised to sum 1 so that a long reading
    does not outweigh a short one. A bad reading is dropped with a warning."""
    from eclip.data import gaze

    maps, warnings = [], []
    for src in job.gaze:
        try:
            if src.kind == "egd":
                fix, _ = gaze.read_egd_fixations(src.path, src.dicom_id, image_size=native,
                                                 padding=src.padding)
                hm = gaze.heatmap_egd(fix, native, out_shape=shape)
            else:
                fix, _ = gaze.read_reflacx_fixations(src.path, image_size=native)
                hm = gaze.heatmap_reflacx(fix, native, out_shape=shape)
        except EclipError as exc:
            warnings.append(f"gaze reading {src.path} skipped: {exc}")
            continue
        hm = np.asarray(hm, dtype=np.float32)
        total = float(hm.sum())
        if not np.isfinite(total) or total <= 0:
            warnings.append(f"gaze reading {src.path} skipped: empty heatmap")
            continue
        maps.append(hm / total)
    if not maps:
        return None, 0, warnings
    avg = maps[0] if len(maps) == 1 else np.asarray(gaze.average_heatmaps(maps), np.float32)
    if avg.shape != tuple(shape):
        avg = gaze.resize_heatmap(avg, shape)
    return avg, len(maps), warnings


def _save_heatmap_atomic(path: Path, hm: np.ndarray) -> None:
    from eclip.data import gaze

    path.parent.mkdir(parents=True, exist_ok=True)
    gaze.save_heatmap(path, hm)  # float16 npz, written via temp file + rename


# ---------------------------------------------------------------------------- journal

class Journal:
    """Append-only record of finished rows: one JSON object per line, written after the
    row's files exist. A torn last line (killed mid-write) is ignored on reading."""

    def __init__(self, out: Path):
        self.path = Path(out) / STATE_DIR / JOURNAL
        self._fh = None

    def load(self) -> dict[str, dict]:
        entries: dict[str, dict] = {}
        if not self.path.is_file():
            return entries
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                    entries[rec["id"]] = rec
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # torn write from a kill: that image is simply redone
        return entries

    def append(self, rec: dict) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._repair_tail()
            self._fh = open(self.path, "a", encoding="utf-8")
        self._fh.write(json.dumps(rec, default=str) + "\n")
        self._fh.flush()  # survives a process kill; fsync at close covers power loss

    def _repair_tail(self) -> None:
        """Make sure a torn last line does not glue onto the next record."""
        if self.path.is_file() and self.path.stat().st_size:
            with open(self.path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                last = fh.read(1)
            if last != b"\n":
                with open(self.path, "ab") as fh:
                    fh.write(b"\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def compact(self, entries: dict[str, tuple[str, str | None]]) -> None:
        """After the manifest is written, keep only id, signature and source file (the rows
        live in the manifest)."""
        text = "".join(json.dumps({"id": i, "sig": sig, "src": src}) + "\n"
                       for i, (sig, src) in entries.items())
        atomic_write_text(self.path, text)


# ----------------------------------------------------------------------------- engine

def load_existing(out: Path) -> pd.DataFrame | None:
    """The manifest already in ``out`` (validated), or None. Refuses to touch a folder
    whose manifest is broken, rather than risk overwriting data."""
    if not (Path(out) / MANIFEST).is_file():
        return None
    try:
        return read_manifest(out)
    except ManifestError as exc:
        raise ImportFailed(
            f"{Path(out) / MANIFEST} exists but is not a valid manifest ({exc}). Nothing was "
            "written; fix or move it, or import into another --out folder."
        ) from exc


_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def safe_id(text: str) -> str:
    """A string usable as an id and a file name (images/<id>.png)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text).strip()).strip("._-")
    return out[:200] or "x"


def check_collisions(jobs: Sequence[Job], existing: pd.DataFrame | None, source: str) -> None:
    ids = [j.id for j in jobs]
    bad = [i for i in ids if not _SAFE_ID.match(i)]
    if bad:
        raise ImportFailed(f"id {bad[0]!r} cannot name a file (letters, digits, '._-' only).")
    dup = pd.Series(ids)[pd.Series(ids).duplicated()]
    if len(dup):
        raise ImportFailed(
            f"id {dup.iloc[0]!r} would be imported twice; ids must be unique "
            "(check the source table for repeated image names)."
        )
    if existing is None or "source" not in existing.columns:
        return
    other = existing[(existing["source"] != "") & (existing["source"] != source)]
    clash = sorted(set(other["id"]) & set(ids))
    if clash:
        raise ImportFailed(
            f"{len(clash)} id(s) such as {clash[0]!r} already exist in {MANIFEST} from another "
            f"source ({other.set_index('id').loc[clash[0], 'source']!r}). Import into another "
            "--out folder (or use --id-prefix with import-folder)."
        )


def run_import(
    jobs: Sequence[Job],
    out: str | os.PathLike,
    source: str,
    *,
    workers: int | None = None,
    pre_problems: Iterable[Problem] = (),
    hasher: PatientHasher | None = None,
    progress: bool = True,
) -> ImportSummary:
    """Import ``jobs`` into ``out`` (see the module docstring). Returns a summary."""
    out = Path(out)
    existing = load_existing(out)
    check_collisions(jobs, existing, source)
    summary = ImportSummary(out=out, planned=len(jobs), problems=list(pre_problems))
    out.mkdir(parents=True, exist_ok=True)
    with _ImportLock(out):
        existing = load_existing(out)  # again: it may have changed while we waited
        check_collisions(jobs, existing, source)
        return _run_locked(jobs, out, source, existing, summary, workers, hasher, progress)


def _run_locked(jobs, out, source, existing, summary, workers, hasher, progress) -> ImportSummary:
    journal = Journal(out)
    done = journal.load()
    _check_same_sources(jobs, done)
    (out / "images").mkdir(exist_ok=True)
    if hasher is not None:
        hasher.save()
    _stage(jobs)
    existing_rows = _rows_by_id(existing)
    sigs = {j.id: j.signature() for j in jobs}
    rows: dict[str, dict] = {}
    todo = []
    for job in jobs:
        row = _done_row(job.id, sigs[job.id], done, existing_rows, out)
        if row is not None:
            rows[job.id] = row
            summary.skipped_done += 1
        else:
            todo.append(job)
    if summary.skipped_done:
        log.info("%d image(s) already imported with the same inputs: skipped", summary.skipped_done)

    die_after = int(os.environ.get(DIE_AFTER_ENV, "0") or 0)
    try:
        for res in _execute(todo, out, workers, progress, source):
            if res["row"] is None:
                summary.failed += 1
                job = res["job"]
                summary.problems.append(Problem(job.id, job.source, res["error"]))
                log.warning("skipped %s: %s", job.source, res["error"])
                continue
            for w in res["warnings"]:
                summary.problems.append(Problem(res["id"], res["job"].source, w))
            journal.append({"id": res["id"], "sig": sigs[res["id"]], "src": res["job"].source,
                            "row": res["row"]})
            rows[res["id"]] = res["row"]
            summary.imported += 1
            if die_after and summary.imported >= die_after:
                journal.close()
                _die()
    finally:
        journal.close()

    manifest = _merge(existing, [rows[j.id] for j in jobs if j.id in rows])
    write_manifest(manifest, out)
    src = {j.id: j.source for j in jobs if j.id in rows}
    journal.compact({i: (sigs[i], src[i]) if i in src else (done[i].get("sig", ""), done[i].get("src"))
                     for i in manifest["id"] if i in src or i in done})
    _write_problems(out, summary.problems)
    _clear_staging(out)
    summary.total_rows = len(manifest)
    summary.with_gaze = sum(1 for j in jobs if rows.get(j.id, {}).get("gaze_path"))
    return summary


class _ImportLock:
    """One import per output folder at a time. A lock left by a killed import (its pid no
    longer running) is taken over, so resuming after a crash needs no manual step."""

    def __init__(self, out: Path):
        self.path = Path(out) / STATE_DIR / "lock"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pid = self._owner()
                if pid and pid != os.getpid() and _alive(pid):
                    raise ImportFailed(
                        f"another import (pid {pid}) is writing to {self.path.parent.parent}; "
                        f"wait for it, or delete {self.path} if that process is gone."
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its import was killed
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            return self
        raise ImportFailed(f"could not take the import lock {self.path}; delete it and retry.")

    def _owner(self) -> int:
        try:
            return int(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_same_sources(jobs: Sequence[Job], done: dict[str, dict]) -> None:
    """An id already imported from another file (two folders both holding 'image1.png')
    would silently replace the earlier image: refuse before writing anything."""
    for job in jobs:
        prev = done.get(job.id, {}).get("src")
        if prev and prev != job.source:
            raise ImportFailed(
                f"id {job.id!r} was imported earlier from {prev}; now {job.source} would "
                "replace it. Import into another --out folder, or give distinct ids "
                "(--id-prefix with import-folder)."
            )


def _rows_by_id(existing: pd.DataFrame | None) -> dict[str, dict]:
    if existing is None:
        return {}
    return {r["id"]: _clean(r) for r in existing.to_dict("records")}


def _done_row(jid, sig, done, existing_rows, out: Path) -> dict | None:
    """The finished row of ``jid`` if it was imported with the same inputs and its files
    are still there; else None (import it again)."""
    rec = done.get(jid)
    if rec is None or rec.get("sig") != sig:
        return None
    row = rec.get("row") or existing_rows.get(jid)
    if not row or not (out / str(row.get("image_path", ""))).is_file():
        return None
    gaze_rel = row.get("gaze_path") or ""
    if gaze_rel and not (out / gaze_rel).is_file():
        return None
    return row


_die_hook_executor: list = []


def _die() -> None:
    """Test hook: simulate a crash (no cleanup, no manifest)."""
    for ex in _die_hook_executor:
        for proc in list(getattr(ex, "_processes", {}).values()):
            proc.kill()
    os._exit(75)


def _execute(todo: Sequence[Job], out: Path, workers, progress: bool, source: str):
    """Yield results as they complete; bounded in-flight work keeps memory flat."""
    if not todo:
        return
    workers = max(1, int(workers or os.cpu_count() or 1))
    bar = tqdm(total=len(todo), unit="img", desc=f"import {source}", disable=not progress,
               mininterval=0.5)
    try:
        if workers == 1:
            for job in todo:
                res = process_job(job, str(out))
                res["job"] = job
                bar.update()
                yield res
            return
        with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as ex:
            _die_hook_executor[:] = [ex]
            pending: dict = {}
            it = iter(todo)
            limit = workers * 4
            while True:
                while len(pending) < limit:
                    job = next(it, None)
                    if job is None:
                        break
                    pending[ex.submit(process_job, job, str(out))] = job
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    job = pending.pop(fut)
                    res = fut.result()
                    res["job"] = job
                    bar.update()
                    yield res
            _die_hook_executor.clear()
    finally:
        bar.close()


def _merge(existing: pd.DataFrame | None, new_rows: list[dict]) -> pd.DataFrame:
    """Existing rows keep their order and content unless re-imported (then replaced in
    place); new ids are appended."""
    new = pd.DataFrame(new_rows)
    if existing is None or existing.empty:
        merged = new
    else:
        new_ids = set(new["id"]) if len(new) else set()
        keep = existing[~existing["id"].isin(new_ids)]
        order = list(existing["id"]) + [i for i in (new["id"] if len(new) else []) if i not in set(existing["id"])]
        merged = pd.concat([keep, new], ignore_index=True).set_index("id").loc[order].reset_index()
    for col in REQUIRED_COLUMNS:
        if col not in merged.columns:
            merged[col] = ""
    for col in LABELS:  # every label column, blank when the source has no such label
        merged[col] = pd.to_numeric(merged[col], errors="coerce") if col in merged.columns else np.nan
    if existing is not None and len(existing.columns):  # keep the folder's column order
        first = list(existing.columns)
    else:
        first = list(REQUIRED_COLUMNS) + list(LABELS)
    merged = merged[first + [c for c in merged.columns if c not in first]]
    text_cols = [c for c in merged.columns if c not in LABELS]
    merged[text_cols] = merged[text_cols].astype(object).where(merged[text_cols].notna(), "")
    for col in ("orig_width", "orig_height", "n_readings"):
        if col in merged.columns:
            merged[col] = merged[col].map(_int_text)
    return merged


def _int_text(v) -> str:
    if v is None or v == "":
        return ""
    try:
        return str(int(float(v)))
    except (TypeError, ValueError):
        return str(v)


def _write_problems(out: Path, problems: list[Problem]) -> None:
    path = out / PROBLEMS
    if not problems:
        if path.is_file():
            path.unlink()
        return
    df = pd.DataFrame([p.__dict__ for p in problems], columns=["id", "path", "problem"])
    atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"))


def staging_dir(out: Path) -> Path:
    return Path(out) / STATE_DIR / "staging"


def _stage(jobs: Sequence[Job]) -> None:
    """Write the staged gaze inputs (e.g. one image's EGD fixation rows) to their files."""
    for job in jobs:
        for src in job.gaze:
            if src.text:
                Path(src.path).parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(Path(src.path), src.text)


def _clear_staging(out: Path) -> None:
    import shutil

    shutil.rmtree(staging_dir(out), ignore_errors=True)


# ------------------------------------------------------------------------ CLI helpers

def add_common_args(p) -> None:
    p.add_argument("--out", required=True, type=Path,
                   help="dataset folder to create or add to (manifest.csv, images/, gaze/)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel worker processes (default: all cores)")
    p.add_argument("--limit", type=int, default=None,
                   help="import at most N images (in source order; for trials)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def report(summary: ImportSummary) -> int:
    """Print the summary; exit status 1 when images were planned but none could be
    imported (every one failed), else 0 (individual failures are listed, not fatal)."""
    for line in summary.lines():
        print(line)
    if summary.planned and not (summary.imported or summary.skipped_done):
        log.error("no image could be imported; see %s", summary.out / PROBLEMS)
        return 1
    return 0
