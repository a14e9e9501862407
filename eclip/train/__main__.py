"""CLI: python -m eclip.train --config FILE [--set key=value ...] [--resume RUN_DIR] [--out RUN_DIR]

Also runs unchanged under `torchrun --nproc_per_node N -m eclip.train ...` (DDP).
Exit codes (those of every eclip command, eclip.cli): 0 done, or stopped by SIGTERM / Ctrl-C
(checkpoint saved); 2 an error with a message; 130 aborted by a second Ctrl-C (nothing saved;
the last checkpoint stays); 1 a bug (traceback). Rank 0 records how it ended in
RUN/exit.json, which the app shows.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import sys
from pathlib import Path

from eclip.cli import run_command
from eclip.config import apply_override, config_from_json, load_config
from eclip.errors import ConfigError, EclipError
from eclip.train import runfolder as RF
from eclip.train.runfolder import CHECKPOINTS, CONFIG, RunStatus

log = logging.getLogger("eclip.train")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eclip.train",
        description="Train eCLIP (or the CLIP baseline with --set method.expert=false) on a "
                    "dataset folder. Writes a run folder: config.json, progress.jsonl, "
                    "checkpoints/ (resumable) and final/ (the exported model).",
        epilog="Example: python -m eclip.train --config configs/demo-eclip.toml "
               "--set data.root=data/demo --set train.steps=20 --out runs/try",
    )
    p.add_argument("--config", help="TOML file with [model] [method] [data] [train] tables")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config field, e.g. train.steps=20 (repeatable)")
    p.add_argument("--out", help="run folder to create (default: runs/<time>-<arch>-<mode>)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR exactly from its latest checkpoint")
    p.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return p


def resolve(args) -> tuple:
    if args.resume:
        run_dir = Path(args.resume)
        cfg_path = run_dir / CONFIG
        if not cfg_path.is_file():
            raise ConfigError(f"--resume {run_dir}: no {CONFIG} there; is it a run folder?")
        data = json.loads(cfg_path.read_text())
        for item in args.overrides:
            apply_override(data, item)
        return config_from_json(data), run_dir, True
    if not args.config and not args.overrides:
        raise ConfigError("give --config FILE (and/or --set key=value), or --resume RUN_DIR")
    cfg = load_config(args.config, args.overrides)
    if not cfg.data.root:
        raise ConfigError("data.root is empty: set it in the config or with --set data.root=DATASET_DIR")
    if args.out:
        run_dir = Path(args.out)
    else:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        mode = "eclip" if cfg.method.expert else "clip"
        run_dir = Path("runs") / f"{stamp}-{Path(cfg.model.arch).stem}-{mode}"
    ckdir = run_dir / CHECKPOINTS
    if ckdir.is_dir() and any(ckdir.iterdir()):
        raise ConfigError(f"{run_dir} already holds checkpoints; use --resume {run_dir} or another --out")
    return cfg, run_dir, False


def record_exit(run_dir: Path | None, rank: int, status: RunStatus, message: str,
                step: int | None = None) -> None:
    """Rank 0 writes RUN/exit.json, into a folder the trainer made: a run that failed
    before it had one (a config error, an unknown architecture) leaves no folder behind."""
    if rank == 0 and run_dir is not None and run_dir.is_dir():
        RF.write_exit(run_dir, status, message, step)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=args.log_level.upper() if rank == 0 else "WARNING",
                        format=f"%(asctime)s %(levelname)s [rank {rank}] %(name)s: %(message)s")
    return run_command(lambda: _train(args, rank))


def _train(args: argparse.Namespace, rank: int) -> int:
    """Train, recording in RUN/exit.json how it ended; eclip.cli prints the error itself."""
    run_dir = None
    try:
        cfg, run_dir, resume = resolve(args)
        from eclip.train.loop import train  # lazy: torch, so --help and a bad config answer first

        result = train(cfg, run_dir, resume=resume)
    except EclipError as exc:
        log.error("%s", exc)
        record_exit(run_dir, rank, RunStatus.FAILED, str(exc))
        raise
    except KeyboardInterrupt:
        message = ("aborted by Ctrl-C before a checkpoint of the current step was saved; the last "
                   f"checkpoint, if any, is kept: python -m eclip.train --resume {run_dir}")
        print(f"\n{message}", file=sys.stderr)
        record_exit(run_dir, rank, RunStatus.STOPPED, message)
        return 130
    except Exception as exc:  # a bug or an environment failure: keep the traceback, say why
        record_exit(run_dir, rank, RunStatus.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    if rank == 0:
        report(result)
    return 0


def report(result) -> None:
    """Rank 0: say how the run ended, on stdout and in RUN/exit.json."""
    summary = (f"{result.steps_done} steps in {result.wall_time_s:.1f} s, last loss "
               f"{result.last_loss:.4f}; run folder {result.run_dir}")
    if result.stopped_early:
        state = f"stopped (checkpoint saved) by {result.stopped_by or 'request'}"
        RF.write_exit(result.run_dir, RunStatus.STOPPED, f"{state} after {result.steps_done} steps; "
                      f"resume with python -m eclip.train --resume {result.run_dir}", result.steps_done)
    else:
        state = "finished"
        RF.write_exit(result.run_dir, RunStatus.FINISHED, f"finished: {summary}", result.steps_done)
    print(f"{state}: {summary}" + (f"; model {result.final_dir}" if result.final_dir else ""))


if __name__ == "__main__":
    sys.exit(main())
