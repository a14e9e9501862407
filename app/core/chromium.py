"""The browser the app drives: Debian's Chromium, through Playwright (the case report's PNG,
the screenshots command, the browser tests and benchmarks). Playwright never downloads a
browser here; ``make browser`` installs this one."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_available(path: str = CHROMIUM) -> bool:
    return Path(path).is_file()
