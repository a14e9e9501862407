"""The embedding-index build the app launches: ``python -m eclip.index build`` as a separate
process (app.jobs.launcher), one job per checkpoint and dataset. A live build holds the
server's heavy-job slot (app.jobs.slot); the page side is app.components.index_job."""

from __future__ import annotations

import sys
from pathlib import Path

from app.jobs.launcher import JobKind, LaunchRecord, is_alive, launch, launch_records
from eclip.io import sha256_text


def command(checkpoint: str, root: str, cache: str | Path, umap: bool, force: bool) -> list[str]:
    """The build of ``checkpoint``'s index over the dataset ``root`` into ``cache``."""
    argv = [sys.executable, "-m", "eclip.index", "build", "--checkpoint", str(checkpoint),
            "--data", str(root), "--cache", str(cache)]
    return argv + ([] if umap else ["--no-umap"]) + (["--force"] if force else [])


def job_name(checkpoint: str, root: str) -> str:
    """The build's name in the runs folder: one per checkpoint and dataset."""
    return f"index-{sha256_text(f'{checkpoint}|{root}', 12)}"


def start(jobs: str | Path, name: str, argv: list[str]) -> LaunchRecord:
    return launch(jobs, name, JobKind.INDEX_BUILD, argv)


def running(jobs: str | Path) -> bool:
    """Whether a build recorded under the runs folder ``jobs`` is alive."""
    return any(is_alive(rec) for rec in launch_records(jobs, JobKind.INDEX_BUILD))
