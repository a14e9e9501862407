"""Test driver: run one ``python -m eclip.data import-...`` command and crash it mid-way.

Usage: ``python tests/data/crash_import.py N import-mimic --root ... --out ...``

The importers hand their jobs to ``engine.run_import``; this driver adds an ``after_job``
hook to that call which, once N images are done, kills the worker processes and then this
process with SIGKILL: no cleanup, no ``finally``, no manifest, as after a power cut or the
OOM killer. Everything else is the real command line, so rerunning the same command
without the driver must resume the import.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import sys

from eclip.data.__main__ import main
from eclip.data.importers import engine, folder, mimic, openi

NEVER_CRASHED = 3  # exit status when the import ended before N images were done


def crash_after(n: int):
    done: list[str] = []

    def after_job(job_id: str) -> None:
        done.append(job_id)
        if len(done) >= n:
            for child in multiprocessing.active_children():
                child.kill()  # a dead importer takes its workers along
            os.kill(os.getpid(), signal.SIGKILL)

    return after_job


def run(n: int, argv: list[str]) -> int:
    hooked = functools.partial(engine.run_import, after_job=crash_after(n))
    for importer in (mimic, openi, folder):
        importer.run_import = hooked  # the command's own call, plus the hook
    main(argv)
    return NEVER_CRASHED


if __name__ == "__main__":
    sys.exit(run(int(sys.argv[1]), sys.argv[2:]))
