"""Ship a trained eCLIP/CLIP pair as the demo checkpoints: everything derived from the shipped
pair, made from two run folders in one step.

    python scripts/ship_demo_pair.py runs/demo20k-eclip-rn-local runs/demo20k-clip-rn-local \\
        --out checkpoints --results results/demo-shipped-rn-fresh.json \\
        --selected-on "data/demo validate split: pointing game of the finding maps ..."

Each run's ``final/`` (fp16 model.safetensors, config.json, card.json) is copied to a staging
folder, where the documented commands write everything the app and the docs read from the pair:

1. ``python -m eclip.evaluate.experiment --data D --fresh-data F --update-card --selected-on S``:
   the cards' ``metrics["eval/test"]``, ``metrics["eval/fresh-test"]`` (the headline, with the
   majority-class and label-prior baselines) and ``selected_on``; the result JSON and its .md;
2. ``python -m eclip.evaluate.card``: the cards' training world (simulated?, source, licence,
   intended use, limitations, real-film check, gaze effect) and ``train_reference.safetensors``;
3. ``python -m eclip.explain.tour``: the Presenter's tour (app/assets/tour.toml).

Nothing under ``--out`` or the tour file is touched unless every command succeeded and both arms
clear the decision rule's zero-shot test on the fresh corpus (results/label-local-plan.md,
metric 3: the 95 % interval of 9-finding balanced accuracy and of prompt-pair macro AUROC lies
above both the majority-class and the label-prior baseline). Then both folders and the tour are
swapped in together; the folders they replace stay in the staging folder (and in git).

It refuses, before any work, a run without ``final/`` or one whose exit.json says it did not
finish, a pair that is not like for like (same architecture, steps, corpus, config; only
the expert path differs: the expert flag and the gaze prior), and a real-film check measured
on another model type. ``--print-only`` prints the commands and stops. What stays by hand
(numbers in README and docs, screenshots) is listed at the end.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILES = ("model.safetensors", "config.json", "card.json")
NAMES = ("demo-eclip", "demo-clip")
# This script gates on the fresh corpus, so its numbers are not untouched by every decision:
# the cards say what read them.
GATE_WHY = ("scored on a freshly built corpus whose reports no model trained or was selected on; the "
            "decision to ship this pair read it as a pass/fail gate (pointing game of the maps, and "
            "zero-shot above the majority-class and label-prior baselines), so these numbers are not "
            "from a corpus no decision saw")
# What gaze adds, and so the only config keys allowed to differ within a pair; train.threads
# changes the CPU thread count, not the recipe.
EXPERT_PATH = ("expert", "gaze_prior_on", "gaze_prior_weight")
RUNTIME = ("threads",)
GATE = ("zs/findings/balanced_accuracy", "zs/binary/macro_auroc")
BY_HAND = """\
Still by hand, from the new cards and results (grep for the old numbers and "ViT"):
  README.md: Status (the shipped pair's pointing game, zero-shot numbers), Real films (caveat line)
  docs/training.md: Shipped demo checkpoints (tower, size in MiB, steps, how it was chosen)
  docs/results.md: "shipped demo-eclip/-clip" rows, the opening summary
  docs/app.md: the tour's quoted numbers; docs/real-data.md: caveat and weights sha256
  docs/benchmarks.md: demo-eclip rows (rollout rows do not apply to a CNN tower)
  NOTICE: what the shipped weights contain
  screenshots: python -m app.server.screenshots --readme ... (assets/screenshots/), and
    ECLIP_UPDATE_SCREENSHOT=1 for assets/screenshot_explore.png (tests/app/test_e2e.py)
  make index rebuilds the demo indexes for the new weights on the next `make run`
  CHANGELOG.md; then: git add <the two folders> <tour> <results JSON and .md>"""


class Refused(Exception):
    pass


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Refused(f"cannot read {path}: {exc}") from exc


def final_of(run: Path) -> Path:
    """The run's final/ checkpoint, or a refusal saying what is missing."""
    final = run / "final"
    if not final.is_dir():
        raise Refused(f"{run} has no final/ folder: its training has not finished (see {run}/progress.jsonl)")
    missing = [f for f in FILES if not (final / f).is_file()]
    if missing:
        raise Refused(f"{final} lacks {', '.join(missing)}")
    exit_file = run / "exit.json"
    if exit_file.is_file() and read_json(exit_file).get("status") != "finished":
        raise Refused(f"{exit_file} says the run did not finish: {read_json(exit_file).get('message', '')}")
    return final


def recipe(config: dict) -> dict:
    """The config without the expert path and the runtime keys."""
    out = json.loads(json.dumps(config))
    for key in EXPERT_PATH:
        out.get("method", {}).pop(key, None)
    for key in RUNTIME:
        out.get("train", {}).pop(key, None)
    return out


def pair_problems(eclip: Path, clip: Path) -> list[str]:
    """Why two final/ folders are not a like-for-like eCLIP/CLIP pair (empty when they are)."""
    cards = [read_json(f / "card.json") for f in (eclip, clip)]
    configs = [read_json(f / "config.json") for f in (eclip, clip)]
    problems = [f"{k} differs: {cards[0].get(k)!r} vs {cards[1].get(k)!r}"
                for k in ("arch", "steps", "data_fingerprint", "image_size") if cards[0].get(k) != cards[1].get(k)]
    if not (cards[0].get("expert") and not cards[1].get("expert")):
        problems.append(f"the eCLIP arm must have expert=true and the CLIP arm expert=false (cards: "
                        f"{cards[0].get('expert')}, {cards[1].get('expert')})")
    if float(configs[1].get("method", {}).get("gaze_prior_weight") or 0) != 0:
        problems.append("the CLIP arm trains with a gaze prior (method.gaze_prior_weight != 0)")
    return problems + recipe_problems(*configs)


def recipe_problems(config_a: dict, config_b: dict) -> list[str]:
    """The config sections (and their keys) in which two runs differ beyond the expert path."""
    a, b = recipe(config_a), recipe(config_b)
    problems = []
    for section in sorted(set(a) | set(b)):
        if a.get(section) != b.get(section):
            x, y = a.get(section, {}), b.get(section, {})
            both = isinstance(x, dict) and isinstance(y, dict)
            keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k)) if both else [section]
            problems.append(f"config [{section}] differs beyond the expert path: {keys}")
    return problems


def check_real_film(path: str, arch: str) -> None:
    """A real-film check is a measurement of one model type: refuse one that names another."""
    model = str(read_json(Path(path)).get("model", ""))
    if arch not in model:
        raise Refused(f"{path} was measured on {model!r}, not on {arch}: a card would claim a measurement "
                      "its model never had (leave --real-film-check out: the card then says it has not "
                      "been measured on real films)")


def card_command(folders: list[Path], args: argparse.Namespace) -> list[str]:
    """``eclip.evaluate.card`` on the staged folders, with the optional inputs given."""
    cmd = [sys.executable, "-m", "eclip.evaluate.card", "--checkpoint", *map(str, folders)]
    for flag, value in (("--train-data", args.train_data), ("--real-film-check", args.real_film_check),
                        ("--gaze-seeds", args.gaze_seeds)):
        cmd += [flag, value] if value else []
    return cmd


def refusing(name: str, ship_fn, args: argparse.Namespace) -> int:
    """Run a ship step; a refusal is a message and exit code 2, not a traceback."""
    try:
        return ship_fn(args)
    except Refused as exc:
        print(f"{name}: refused: {exc}", file=sys.stderr)
        return 2


def run(cmd: list[str], print_only: bool) -> None:
    print("+ " + shlex.join(cmd), flush=True)
    if not print_only and subprocess.run(cmd).returncode != 0:
        raise Refused(f"{cmd[2]} failed (above); nothing was shipped")


def gate(folder: Path) -> list[str]:
    """The decision rule's zero-shot test on the fresh corpus, from the staged card: lines
    that say how each metric stands, prefixed FAIL where it does not clear both baselines."""
    card = read_json(folder / "card.json")
    head = card.get("metrics", {}).get((card.get("headline") or {}).get("metrics", ""), {})
    lines = []
    for metric in GATE:
        value, base = head.get("values", {}).get(metric), head.get("baselines", {}).get(metric)
        if not value or not base:
            lines.append(f"FAIL {folder.name} {metric}: not on the card's headline")
            continue
        ok = value[1] > max(base)
        lines.append(f"{'ok  ' if ok else 'FAIL'} {folder.name} {metric} {value[0]:.3f} "
                     f"[{value[1]:.3f}, {value[2]:.3f}] vs majority {base[0]:.3f}, prior {base[1]:.3f}")
    return lines


def install(stage: Path, out: Path, tour_staged: Path, tour: Path) -> None:
    """Swap both folders and the tour in; what they replace moves into the staging folder."""
    out.mkdir(parents=True, exist_ok=True)
    done = []
    try:
        for name in NAMES:
            if (out / name).exists():
                shutil.move(str(out / name), str(stage / f"replaced-{name}"))
            shutil.move(str(stage / name), str(out / name))
            done.append(name)
        if tour.exists():
            shutil.copyfile(tour, stage / "replaced-tour.toml")
        shutil.copyfile(tour_staged, tour)
    except OSError:
        for name in done:  # put back what was there
            shutil.move(str(out / name), str(stage / name))
            if (stage / f"replaced-{name}").exists():
                shutil.move(str(stage / f"replaced-{name}"), str(out / name))
        raise


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python scripts/ship_demo_pair.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eclip_run", type=Path, help="the eCLIP run folder (with final/)")
    ap.add_argument("clip_run", type=Path, help="the CLIP run folder (with final/)")
    ap.add_argument("--out", type=Path, required=True,
                    help="where demo-eclip/ and demo-clip/ go (checkpoints for the shipped pair)")
    ap.add_argument("--selected-on", required=True, help="what the model was chosen on (goes on both cards)")
    ap.add_argument("--headline-why", default=GATE_WHY,
                    help="why the fresh corpus's numbers are the cards' headline (default: they were a ship gate)")
    ap.add_argument("--results", type=Path, default=None,
                    help="the evaluation's JSON (.md beside it; default: in the staging folder)")
    ap.add_argument("--tour", type=Path, default=None,
                    help="the tour file to write (default: app/assets/tour.toml when --out is checkpoints, "
                         "else OUT/tour.toml)")
    ap.add_argument("--data", default="data/demo", help="the corpus the app shows (eval/test, the tour)")
    ap.add_argument("--fresh-data", default="data/demo-fresh", help="the corpus no choice saw (headline)")
    ap.add_argument("--train-data", default=None, help="training corpus (default: config.json's data.root)")
    ap.add_argument("--real-film-check", default=None, help="a real-film measurement of this model type (JSON)")
    ap.add_argument("--gaze-seeds", default=None, help="results/gaze-seeds.json, for the cards and the tour")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--allow-unpaired", action="store_true",
                    help="smoke runs only: ship two runs that are not a like-for-like pair (e.g. one run twice)")
    ap.add_argument("--print-only", action="store_true", help="print the commands, run nothing")
    return ap.parse_args(argv)


def name_shipped_paths(results: Path, renames: dict[str, str]) -> None:
    """The results name the shipped folders, relative to the repository, not the staging ones."""
    for f in (results, results.with_suffix(".md")):
        if f.is_file():
            text = f.read_text(encoding="utf-8")
            for old, new in renames.items():
                text = text.replace(old, new)
            f.write_text(text, encoding="utf-8")


def ship(args: argparse.Namespace) -> int:
    if Path.cwd().resolve() != REPO:  # the cards and the tour name paths as typed, relative to the repository
        raise Refused(f"run it from the repository root ({REPO})")
    finals = [final_of(args.eclip_run), final_of(args.clip_run)]
    problems = pair_problems(*finals)
    if problems and not args.allow_unpaired:
        raise Refused("not a like-for-like pair:\n  " + "\n  ".join(problems))
    for p in problems:
        print(f"warning (--allow-unpaired): {p}", file=sys.stderr)
    arch = read_json(finals[0] / "card.json").get("arch", "")
    if args.real_film_check:
        check_real_film(args.real_film_check, arch)
    out = args.out
    tour = args.tour or (Path("app/assets/tour.toml") if out.resolve() == REPO / "checkpoints"
                         else out / "tour.toml")
    stage = Path(tempfile.mkdtemp(prefix="ship-demo-pair-"))
    staged = [stage / n for n in NAMES]
    results = args.results or stage / "shipped-fresh.json"
    py = sys.executable
    print(f"staging in {stage} ({arch})")
    for src, dst in zip(finals, [] if args.print_only else staged):
        dst.mkdir()
        for f in FILES:  # copyfile, not copy2: a new mtime makes `make index` rebuild the demo indexes
            shutil.copyfile(src / f, dst / f)
    run([py, "-m", "eclip.evaluate.experiment", "--data", args.data, "--fresh-data", args.fresh_data,
         "--out", str(results), "--group", "clip", str(staged[1]), "--group", "eclip", str(staged[0]),
         "--n-boot", str(args.n_boot), "--update-card", "--selected-on", args.selected_on,
         "--headline-why", args.headline_why, "--quiet"],
        args.print_only)
    run(card_command(staged, args), args.print_only)
    tour_cmd = [py, "-m", "eclip.explain.tour", "--checkpoint", str(staged[0]), "--compare", str(staged[1]),
                "--data", args.data, "--out", str(stage / "tour.toml")]
    run(tour_cmd + (["--gaze-seeds", args.gaze_seeds] if args.gaze_seeds else []), args.print_only)
    if args.print_only:
        return 0
    lines = [ln for f in staged for ln in gate(f)]
    print("metric 3 (fresh corpus; interval above both baselines):\n  " + "\n  ".join(lines))
    if any(ln.startswith("FAIL") for ln in lines):
        raise Refused(f"the pair does not clear metric 3; nothing was shipped (staged: {stage})")
    # the tour's header names the command that wrote it: the shipped paths, not the staging folder
    text = (stage / "tour.toml").read_text(encoding="utf-8")
    for folder, name in zip(staged, NAMES):
        text = text.replace(str(folder), str(out / name))
    (stage / "tour.toml").write_text(text.replace(str(stage / "tour.toml"), str(tour)), encoding="utf-8")
    install(stage, out, stage / "tour.toml", tour)
    name_shipped_paths(results, {**{str(f): str(out / n) for f, n in zip(staged, NAMES)}, f"{REPO}/": ""})
    print(f"shipped: {out / NAMES[0]}, {out / NAMES[1]}, {tour}; results {results} (+ .md); "
          f"replaced files kept in {stage}\n{BY_HAND}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return refusing("ship_demo_pair", ship, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
