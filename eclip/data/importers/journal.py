"""What makes an import safe to kill and rerun: the journal of finished rows and the lock.

The journal records each row only after its files exist, so after a crash a rerun knows
exactly which images are done; the lock keeps two imports from writing one folder at once
and is taken over when its owner died, so resuming needs no manual step.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eclip.data.importers.layout import JOURNAL, LOCK, state_dir
from eclip.errors import ImportFailed
from eclip.io import atomic_write_text


class Journal:
    """Append-only record of finished rows: one JSON object per line, written after the
    row's files exist. A torn last line (killed mid-write) is ignored on reading."""

    def __init__(self, out: Path):
        self.path = state_dir(out) / JOURNAL
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

    def compact(self, entries: dict[str, tuple[str, str | None, str | None]]) -> None:
        """After the manifest is written, keep only id, signature, source file and pixel
        digest (the rows live in the manifest)."""
        text = "".join(json.dumps({"id": i, "sig": sig, "src": src, **({"px": px} if px else {})}) + "\n"
                       for i, (sig, src, px) in entries.items())
        atomic_write_text(self.path, text)


class ImportLock:
    """One import per output folder at a time. A lock left by a killed import (its pid no
    longer running) is taken over, so resuming after a crash needs no manual step."""

    def __init__(self, out: Path):
        self.path = state_dir(out) / LOCK

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
