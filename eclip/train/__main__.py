"""CLI: python -m eclip.train --config FILE [--set key=value ...] [--resume RUN_DIR] [--out RUN_DIR]

Also runs unchanged under `torchrun --nproc_per_node N -m eclip.train ...` (DDP).
Exit codes: 0 done or stopped by SIGTERM (checkpoint saved), 1 an error with a message.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import sys
from pathlib import Path

from eclip.config import apply_override, config_from_json, load_config
from eclip.errors import ConfigError
from eclip.train.runfolder import CHECKPOINTS, CONFIG

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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=args.log_level.upper() if rank == 0 else "WARNING",
                        format=f"%(asctime)s %(levelname)s [rank {rank}] %(name)s: %(message)s")
    from eclip.errors import EclipError

    try:
        cfg, run_dir, resume = resolve(args)
        from eclip.train.loop import train

        result = train(cfg, run_dir, resume=resume)
    except EclipError as exc:
        log.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if rank == 0:
        state = "stopped (checkpoint saved)" if result.stopped_early else "finished"
        print(f"{state}: {result.steps_done} steps in {result.wall_time_s:.1f} s, last loss "
              f"{result.last_loss:.4f}; run folder {result.run_dir}"
              + (f"; model {result.final_dir}" if result.final_dir else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
