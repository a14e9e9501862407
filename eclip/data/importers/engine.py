"""The import engine: source jobs -> a dataset folder under the manifest contract.

An importer (mimic, openi, folder) turns its source tables into a list of ``Job``s and
hands them to ``run_import``, which

* resizes every image once to the working resolution, in parallel across cores
  (``ProcessPoolExecutor``, see ``worker.process_job``), with a tqdm progress bar;
* writes ``images/<id>.png`` and ``gaze/<id>.npz`` atomically (temp file + rename), the
  heatmap computed on the image's native pixel grid and resized to the stored image;
* appends each finished row to a journal (``.import/journal.jsonl``) only after its files
  exist, so a killed import loses at most the images in flight: rerunning the same command
  skips every journalled id whose inputs are unchanged (``Job.signature``) and never
  duplicates a row;
* writes ``manifest.csv`` atomically at the end, merged with the manifest already in the
  folder (earlier imports stay intact; a re-imported id replaces its own row only);
* skips images that fail to load (corrupt, truncated, over the pixel limit) or are no chest
  radiograph (``eclip.data.radiograph``: a CT or MR DICOM, a tibia, an image under 64 px a
  side), counting and listing them in ``import_problems.csv`` rather than stopping;
  ``allow_non_chest`` imports the non-chest DICOMs instead, flagged in the ``non_chest`` column;
* warns when two files hold the same film (the same decoded pixels, ``worker.pixel_digest``,
  in this import or an earlier one into the folder), naming both files in the log and in
  ``import_problems.csv``: both are imported, and would count twice.

Everything that can be checked before work starts (table columns, an unreadable existing
manifest, id collisions with another source) raises ``ImportFailed`` before any file is
written.

``run_import(after_job=...)`` calls back once each image is done (its row journalled or its
failure recorded), in the importing process: for progress reporting, and for tests that
crash an import at a chosen point to check that a rerun resumes it.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from eclip.data.importers.jobs import ImportSummary, Job, Problem
from eclip.data.importers.journal import ImportLock, Journal
from eclip.data.importers.layout import PROBLEMS, staging_dir
from eclip.data.importers.merge import check_collisions, load_existing, merge_rows, rows_by_id
from eclip.data.importers.worker import process_job
from eclip.data.manifest import write_manifest
from eclip.errors import ImportFailed
from eclip.io import atomic_write_text

log = logging.getLogger(__name__)

AfterJob = Callable[[str], None]  # called with the id of each image once it is done


def run_import(
    jobs: Sequence[Job],
    out: str | os.PathLike,
    source: str,
    *,
    workers: int | None = None,
    pre_problems: Iterable[Problem] = (),
    progress: bool = True,
    after_job: AfterJob | None = None,
    allow_non_chest: bool = False,
) -> ImportSummary:
    """Import ``jobs`` into ``out`` (see the module docstring). Returns a summary.

    ``after_job(id)`` runs after each image's result is recorded; whatever it raises stops
    the import as a crash would (the journal keeps what finished, no manifest is written).
    """
    out = Path(out)
    if allow_non_chest:
        jobs = [replace(j, allow_non_chest=True) for j in jobs]
    existing = load_existing(out)
    check_collisions(jobs, existing, source)
    summary = ImportSummary(out=out, planned=len(jobs), problems=list(pre_problems))
    out.mkdir(parents=True, exist_ok=True)
    with ImportLock(out):
        existing = load_existing(out)  # again: it may have changed while we waited
        check_collisions(jobs, existing, source)
        journal = Journal(out)
        done = journal.load()
        _check_same_sources(jobs, done)
        _prepare(out, jobs)
        sigs = {j.id: j.signature() for j in jobs}
        rows, todo = _plan(jobs, sigs, done, existing, summary)
        results = _execute(todo, out, source, workers=workers, progress=progress)
        films = Films.earlier(done, set(rows_by_id(existing)) | set(rows), summary)
        try:
            _record(results, sigs, journal, rows, summary, after_job, films)
        finally:
            results.close()  # on a crash: stop the workers first, then close the journal
            journal.close()
        _finish(jobs, rows, sigs, done, existing, journal, summary, films)
        return summary


def _prepare(out: Path, jobs: Sequence[Job]) -> None:
    """The folders and files workers rely on, written once the import is sure to start."""
    (out / "images").mkdir(exist_ok=True)
    _stage(jobs)


def _plan(jobs, sigs, done, existing, summary: ImportSummary) -> tuple[dict[str, dict], list[Job]]:
    """Split ``jobs`` into rows already finished with the same inputs and jobs to run."""
    existing_rows = rows_by_id(existing)
    rows: dict[str, dict] = {}
    todo = []
    for job in jobs:
        row = _done_row(job.id, sigs[job.id], done, existing_rows, summary.out)
        if row is not None:
            rows[job.id] = row
            summary.skipped_done += 1
        else:
            todo.append(job)
    if summary.skipped_done:
        log.info("%d image(s) already imported with the same inputs: skipped", summary.skipped_done)
    return rows, todo


def _record(results: Iterator[dict], sigs, journal: Journal, rows: dict[str, dict],
            summary: ImportSummary, after_job: AfterJob | None, films: Films) -> None:
    """Journal each imported row (its files exist by now) or list why it failed; warn when
    its pixels are a film already imported."""
    for res in results:
        job = res["job"]
        if res["row"] is None:
            summary.failed += 1
            summary.problems.append(Problem(job.id, job.source, res["error"]))
            log.warning("skipped %s: %s", job.source, res["error"])
        else:
            for w in res["warnings"]:
                summary.problems.append(Problem(res["id"], job.source, w))
            if same := films.add(res["id"], job.source, res.get("pixels")):
                summary.problems.append(Problem(res["id"], job.source, same))
            journal.append({"id": res["id"], "sig": sigs[res["id"]], "src": job.source,
                            "px": res.get("pixels"), "row": res["row"]})
            rows[res["id"]] = res["row"]
            summary.imported += 1
        if after_job is not None:
            after_job(job.id)


@dataclass
class Films:
    """The films of this import and the earlier ones it keeps, by pixel digest
    (``worker.pixel_digest``), to notice one film imported from two files."""

    first: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # digest -> (id, file)
    digest: dict[str, str] = field(default_factory=dict)  # id -> digest

    @classmethod
    def earlier(cls, done: dict[str, dict], kept: set[str], summary: ImportSummary) -> Films:
        """The films journalled by earlier imports into the folder that stay in it (imports
        from before digests were journalled are not compared); two of them that are one film
        are listed again, as the import that brought them in did."""
        films = cls()
        for i, rec in done.items():
            if i in kept and (same := films.add(i, rec.get("src"), rec.get("px"))):
                summary.problems.append(Problem(i, rec.get("src"), same))
        return films

    def add(self, id_: str, source: str | None, digest: str | None) -> str:
        """"" for a film not seen before; else, after logging both files (the researcher's
        log, never shown in the app), the problem to list."""
        if not digest:
            return ""
        self.digest[id_] = digest
        first_id, first_src = self.first.setdefault(digest, (id_, source))
        if first_id == id_:
            return ""
        log.warning("%s and %s hold the same film (identical decoded pixels), imported as %s and %s: "
                    "it counts twice, and the two copies may fall into different splits; to keep "
                    "one, leave the other out of the table and import into a new --out folder",
                    first_src, source, first_id, id_)
        return f"same film as {first_id} ({first_src}): identical decoded pixels; both imported"


def _finish(jobs, rows, sigs, done, existing, journal: Journal, summary: ImportSummary,
            films: Films) -> None:
    """Write the merged manifest, then shrink the journal and drop the staging files."""
    out = summary.out
    manifest = merge_rows(existing, [rows[j.id] for j in jobs if j.id in rows])
    write_manifest(manifest, out)
    src = {j.id: j.source for j in jobs if j.id in rows}
    journal.compact({i: (sigs[i], src[i], films.digest.get(i)) if i in src
                     else (done[i].get("sig", ""), done[i].get("src"), done[i].get("px"))
                     for i in manifest["id"] if i in src or i in done})
    _write_problems(out, summary.problems)
    _clear_staging(out)
    summary.total_rows = len(manifest)
    summary.with_gaze = sum(1 for j in jobs if rows.get(j.id, {}).get("gaze_path"))


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


# ------------------------------------------------------------------------------- pool

def _worker_init() -> None:
    """Workers die with the importer (Linux), so a killed import leaves no orphans."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux / no libc: nothing to do
        pass


def _execute(todo: Sequence[Job], out: Path, source: str, *, workers: int | None,
             progress: bool) -> Generator[dict, None, None]:
    """Yield results as they complete; bounded in-flight work keeps memory flat."""
    if not todo:
        return
    workers = max(1, int(workers or os.cpu_count() or 1))
    bar = tqdm(total=len(todo), unit="img", desc=f"import {source}", disable=not progress,
               mininterval=0.5)
    results = _in_process(todo, out) if workers == 1 else _in_pool(todo, out, workers)
    try:
        for res in results:
            bar.update()
            yield res
    finally:
        results.close()  # shuts the pool down (waiting for jobs in flight) before the bar
        bar.close()


def _in_process(todo: Sequence[Job], out: Path) -> Generator[dict, None, None]:
    for job in todo:
        res = process_job(job, str(out))
        res["job"] = job
        yield res


def _in_pool(todo: Sequence[Job], out: Path, workers: int) -> Generator[dict, None, None]:
    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as ex:
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
                yield res


# -------------------------------------------------------------------- side files

def _write_problems(out: Path, problems: list[Problem]) -> None:
    path = out / PROBLEMS
    if not problems:
        if path.is_file():
            path.unlink()
        return
    df = pd.DataFrame([p.__dict__ for p in problems], columns=["id", "path", "problem"])
    atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"))


def _stage(jobs: Sequence[Job]) -> None:
    """Write the staged gaze inputs (e.g. one image's EGD fixation rows) to their files."""
    for job in jobs:
        for src in job.gaze:
            if src.text:
                Path(src.path).parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(Path(src.path), src.text)


def _clear_staging(out: Path) -> None:
    shutil.rmtree(staging_dir(out), ignore_errors=True)
