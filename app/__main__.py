"""``python -m app``: the app's server, warm before it listens.

``streamlit run app/main.py`` serves the same app, but its first visitor waits while the
process imports torch and loads the model, manifest and index (12-13 s at 200,000 cases on
2 cores). This launcher loads those first, in the server's own process (app/server/warm.py, through
the pages' own caches), then hands over to Streamlit with every option it was given.

    python -m app                          # what `make run` runs (headless); also `eclip app`
    python -m app --server.port 8502       # any `streamlit run` option
    python -m app --no-warm                # start at once; the first visitor waits instead
    python -m app --room                   # serve the room: listen on every interface
    python -m app --print-settings         # every setting's value and source, then exit

The server listens on 127.0.0.1 only (this machine's browser) unless told otherwise:
``--room`` (or ``make run HOST=0.0.0.0``) listens on every interface, so the room's
laptops and the projector's machine can open it; ``--server.address ADDR`` picks one
interface. The dataset and model are the app's defaults: $ECLIP_DATA (data/demo) and
$ECLIP_CHECKPOINT (the shipped demo model).
"""

from __future__ import annotations

import gc
import os
import sys
import time

from app.core.settings_table import print_settings
from app.server.warm import quietly_warm
from eclip.cli import run_command
from eclip.errors import ConfigError
from eclip.locations import package_file


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if argv and argv[0] == "--print-settings":
        return print_settings()
    return run_command(lambda: _serve(argv))


LOCAL, ROOM = "127.0.0.1", "0.0.0.0"
ADDRESS_ENV = "STREAMLIT_SERVER_ADDRESS"


def listen_args(argv: list[str], environ=None) -> list[str]:
    """``argv`` for ``streamlit run`` with the address to listen on: ``--room`` becomes every
    interface; without an address of its own (flag or $STREAMLIT_SERVER_ADDRESS) the server
    listens on 127.0.0.1, never on every interface by accident (Streamlit's default)."""
    environ = os.environ if environ is None else environ
    room = "--room" in argv
    argv = [a for a in argv if a != "--room"]
    given = any(a == "--server.address" or a.startswith("--server.address=") for a in argv)
    if room and given:
        raise ConfigError("--room listens on every interface: give it or --server.address, not both.")
    if room:
        return [*argv, "--server.address", ROOM]
    if given or environ.get(ADDRESS_ENV):
        return argv
    return [*argv, "--server.address", LOCAL]


GC_OPTION = "--runner.postScriptGC"


def gc_args(argv: list[str]) -> list[str]:
    """``argv`` with Streamlit's full garbage collection after every script run turned off,
    unless the option is given. Measured under load (benchmarks/app_load.py, a CPU profile of
    every thread): ~35-57 ms per run, as much CPU as the run itself, outside the run and holding
    the interpreter lock, so every other visitor's run waited on it. Python's own generational
    collector still frees cycles; reference counts free the rest."""
    if any(a == GC_OPTION or a.startswith(GC_OPTION + "=") for a in argv):
        return argv
    return [*argv, GC_OPTION, "false"]


def _serve(argv: list[str]) -> int:
    warm = "--no-warm" not in argv
    argv = gc_args(listen_args([a for a in argv if a != "--no-warm"]))
    if warm:
        t0 = time.perf_counter()
        print("eCLIP Explorer: loading before the server listens …", file=sys.stderr, flush=True)
        steps = quietly_warm()
        # What was just loaded lives as long as the server: frozen, the collector never walks
        # it again (~550,000 objects at 200,000 cases; a full collection over them took 0.3 s
        # idle, up to 1.5 s under load). Freed objects are still freed by their reference counts.
        gc.freeze()
        print(f"  {' · '.join(steps) or 'nothing to load'}; {time.perf_counter() - t0:.1f} s",
              file=sys.stderr, flush=True)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(package_file("app", "main.py")), *argv]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
