"""The sidebar's checkpoint listing is kept a few seconds (hundreds of run folders cost a page
run most of its sidebar time): a new run or checkpoint folder shows at once, a run's final/
appearing inside its folder after the TTL or when the admin page forgets the listing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from app.core import paths


def _export(folder: Path) -> Path:
    """A folder the listing counts as a checkpoint (config.json and a card)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "card.json").write_text("{}")
    return folder


@pytest.fixture
def clock(app_env, monkeypatch):
    """A hand-driven clock for the listing's TTL, and no listing kept from another test."""
    now = [1000.0]
    monkeypatch.setattr(paths, "time", SimpleNamespace(monotonic=lambda: now[0]))
    paths.forget_checkpoints()
    yield now
    paths.forget_checkpoints()


def _listed(name: str) -> bool:
    return any(c.endswith(f"{name}/final") for c in paths.checkpoint_candidates())


def test_a_runs_final_folder_shows_after_the_ttl(app_env, clock):
    run = app_env["runs"] / "r1"
    run.mkdir(parents=True)
    assert not _listed("r1")
    _export(run / paths.FINAL)  # inside the run folder: runs/ itself does not change
    assert not _listed("r1")  # the kept listing
    clock[0] += paths.CANDIDATES_TTL_S
    assert _listed("r1")


def test_a_new_run_folder_shows_at_once(app_env, clock):
    app_env["runs"].mkdir(parents=True)
    assert not _listed("r2")
    _export(app_env["runs"] / "r2" / paths.FINAL)
    assert _listed("r2")


def test_forgetting_the_listing_reads_the_folders_again(app_env, clock):
    run = app_env["runs"] / "r3"
    run.mkdir(parents=True)
    assert not _listed("r3")
    _export(run / paths.FINAL)
    paths.forget_checkpoints()  # what the admin page does when its last live run ends
    assert _listed("r3")


def test_callers_get_their_own_list(app_env, clock):
    first = paths.checkpoint_candidates()
    first.append("mine")
    assert "mine" not in paths.checkpoint_candidates()
