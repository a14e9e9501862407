"""Ship one more trained model as a demo checkpoint beside the eCLIP/CLIP pair: a third folder
under checkpoints/ that the app offers as its "Compare with" model, slim, carded and gated.

    python scripts/ship_compare_model.py runs/gs-rn-local-s0-prior --name demo-prior \\
        --out checkpoints --baseline checkpoints/demo-clip \\
        --results results/demo-prior-fresh.json \\
        --selected-on "the eCLIP recipe less its expert pairs (gaze as a prior only), seed 0 ..."

The run's ``final/`` (fp16 model.safetensors, config.json, card.json) is re-saved slim into a
staging folder (``eclip.model.slim``: the frozen MiniLM text trunk by reference, ~11 instead of
54 MiB), beside a staged copy of the baseline checkpoint (so the shipped baseline's card is never
rewritten), and the documented commands write what the app and the docs read from the model:

1. ``python -m eclip.evaluate.experiment --data D --fresh-data F --group clip BASELINE --group
   prior MODEL --update-card --selected-on S``: the model's ``metrics["eval/test"]``,
   ``metrics["eval/fresh-test"]`` (the headline, with the majority-class and label-prior
   baselines) and ``selected_on``, compared with the baseline on identical items; the result
   JSON and its .md (the staged baseline copy's card is rewritten too, and thrown away);
2. ``python -m eclip.evaluate.card``: the model card's training world (simulated?, source,
   licence, intended use, limitations, real-film check, gaze effect) and
   ``train_reference.safetensors``.

Nothing under ``--out`` is touched unless every step succeeded and the model clears the decision
rule's zero-shot test on the fresh corpus (results/label-local-plan.md, metric 3: the 95 %
interval of 9-finding balanced accuracy and of prompt-pair macro AUROC lies above both the
majority-class and the label-prior baseline). Then only OUT/NAME is swapped in; a folder it
replaces stays in the staging folder (and in git). The Presenter's tour is not rewritten (it
compares the pair).

It refuses, before any work, a run without ``final/`` or one whose exit.json says it did not
finish; a model that is not like for like with the baseline (same architecture, steps, corpus,
image size, config; only the expert path may differ: the expert flag and the gaze prior, and
train.threads); a model without a frozen text trunk (``model.lock_text``: nothing to slim);
``--name`` demo-eclip or demo-clip (scripts/ship_demo_pair.py ships those) or the baseline's
own folder; an existing non-empty OUT/NAME unless ``--replace``; and a real-film check measured
on another model type. ``--print-only`` prints the steps and stops. What stays by hand (docs,
screenshots, CHANGELOG, git add) is listed at the end.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ship_demo_pair import (  # noqa: E402  (a sibling script, not a package)
    FILES,
    GATE,
    NAMES,
    REPO,
    Refused,
    card_command,
    check_real_film,
    final_of,
    name_shipped_paths,
    gate,
    read_json,
    refusing,
    recipe_problems,
    run,
)

# This script gates on the fresh corpus, so its numbers are not untouched by every decision:
# the card says what read them.
GATE_WHY = ("scored on a freshly built corpus whose reports no model trained or was selected on; the "
            "decision to ship this model beside the demo pair read it as a pass/fail gate (zero-shot "
            "above the majority-class and label-prior baselines), so these numbers are not from a "
            "corpus no decision saw")
LIKE = ("arch", "steps", "data_fingerprint", "image_size")
BY_HAND = """\
Still by hand, from the new card and results:
  README.md / docs/app.md: the "Compare with" choices (a third demo checkpoint, what it is)
  docs/training.md: Shipped demo checkpoints (this model: recipe, size in MiB, how it was chosen)
  docs/results.md: a row for the shipped {name} (its fresh-corpus headline, vs the baseline)
  NOTICE: what the shipped weights contain (the text trunk by reference: installed MiniLM)
  screenshots (only if a page shows the checkpoint list): python -m app.server.screenshots ...
  its demo index: `make index` builds it for every checkpoints/demo-* folder (or
    python -m eclip.index build --checkpoint {out} --data {data})
  CHANGELOG.md; then: git add {out} <results JSON and .md>"""


def group_name(folder_name: str) -> str:
    """The experiment's group name for a checkpoint folder: demo-prior -> prior."""
    return folder_name.removeprefix("demo-") or folder_name


def baseline_problems(final: Path, baseline: Path) -> list[str]:
    """Why a model's final/ folder is not like for like with the baseline checkpoint (empty when it
    is): same architecture, steps, corpus and image size, and a config that differs only in the
    expert path (expert, gaze_prior_on, gaze_prior_weight) and train.threads."""
    cards = [read_json(f / "card.json") for f in (final, baseline)]
    configs = [read_json(f / "config.json") for f in (final, baseline)]
    problems = [f"{k} differs: {cards[0].get(k)!r} vs the baseline's {cards[1].get(k)!r}"
                for k in LIKE if cards[0].get(k) != cards[1].get(k)]
    return problems + recipe_problems(*configs)


def check_target(name: str, out: Path, baseline: Path, replace: bool) -> Path:
    """OUT/NAME, or a refusal: the pair's names, the baseline's folder, a path for a name, an
    existing non-empty folder without --replace."""
    if name in NAMES:
        raise Refused(f"--name {name} is one of the shipped pair's folders ({', '.join(NAMES)}); "
                      "scripts/ship_demo_pair.py ships those")
    if not name or Path(name).name != name or name in (".", ".."):
        raise Refused(f"--name {name!r}: give a folder name (it goes under --out)")
    target = out / name
    if target.resolve() == baseline.resolve():
        raise Refused(f"{target} is the baseline checkpoint itself")
    if group_name(name) == group_name(baseline.name):
        raise Refused(f"--name {name} and the baseline {baseline.name} would be the same group "
                      f"({group_name(name)!r}) in the comparison")
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not replace:
        raise Refused(f"{target} exists and is not empty; pass --replace to swap it (it is kept in the "
                      "staging folder)")
    return target


def check_baseline(baseline: Path) -> None:
    missing = [f for f in FILES if not (baseline / f).is_file()]
    if missing:
        raise Refused(f"the baseline {baseline} lacks {', '.join(missing) if baseline.is_dir() else 'its folder'}")


def check_slimmable(final: Path) -> None:
    """Only a frozen pretrained text trunk (model.lock_text) can be saved by reference."""
    if not (read_json(final / "config.json").get("model") or {}).get("lock_text"):
        raise Refused(f"{final}/config.json has no model.lock_text = true: its text trunk was trained, so "
                      "it cannot ship slim (by reference)")


def stage_copy(src: Path, dst: Path) -> None:
    """Every file of a checkpoint folder; copyfile, not copy2 (a new mtime, as ship_demo_pair)."""
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file():
            shutil.copyfile(f, dst / f.name)


def stage_slim(src: Path, dst: Path) -> None:
    from eclip.errors import ModelError
    from eclip.model.slim import slim

    try:
        slim(src, dst)
    except ModelError as exc:
        raise Refused(f"slim {src} -> {dst}: {exc}; nothing was shipped") from exc


def install(staged: Path, target: Path, stage: Path) -> None:
    """Swap the staged folder in; what it replaces (even an empty folder) moves into the stage."""
    target.parent.mkdir(parents=True, exist_ok=True)
    replaced = stage / f"replaced-{target.name}"
    if target.exists():
        shutil.move(str(target), str(replaced))
    try:
        shutil.move(str(staged), str(target))
    except OSError:
        if replaced.exists() and not target.exists():  # put back what was there
            shutil.move(str(replaced), str(target))
        raise


def mib(path: Path) -> float:
    return path.stat().st_size / 2**20


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python scripts/ship_compare_model.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="the run folder (with final/ and exit.json)")
    ap.add_argument("--name", required=True, help="the shipped folder's name under --out (e.g. demo-prior)")
    ap.add_argument("--out", type=Path, required=True, help="where NAME/ goes (checkpoints for the demo)")
    ap.add_argument("--baseline", type=Path, default=Path("checkpoints/demo-clip"),
                    help="the shipped checkpoint it is compared with and must be like for like with "
                         "(default: checkpoints/demo-clip; a staged copy is evaluated, never it)")
    ap.add_argument("--selected-on", required=True, help="what the model was chosen on (goes on its card)")
    ap.add_argument("--headline-why", default=GATE_WHY,
                    help="why the fresh corpus's numbers are the card's headline (default: they were a ship gate)")
    ap.add_argument("--results", type=Path, default=None,
                    help="the evaluation's JSON (.md beside it; default: in the staging folder)")
    ap.add_argument("--data", default="data/demo", help="the corpus the app shows (eval/test)")
    ap.add_argument("--fresh-data", default="data/demo-fresh", help="the corpus no choice saw (headline)")
    ap.add_argument("--train-data", default=None, help="training corpus (default: config.json's data.root)")
    ap.add_argument("--real-film-check", default=None, help="a real-film measurement of this model type (JSON)")
    ap.add_argument("--gaze-seeds", default=None, help="results/gaze-seeds.json, for the card")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--replace", action="store_true", help="swap out an existing non-empty OUT/NAME")
    ap.add_argument("--print-only", action="store_true", help="print the steps, run nothing, write nothing")
    return ap.parse_args(argv)


def ship(args: argparse.Namespace) -> int:
    if Path.cwd().resolve() != REPO:  # the cards name paths as typed, relative to the repository
        raise Refused(f"run it from the repository root ({REPO})")
    final = final_of(args.run)
    check_baseline(args.baseline)
    problems = baseline_problems(final, args.baseline)
    if problems:
        raise Refused(f"not like for like with the baseline {args.baseline}:\n  " + "\n  ".join(problems))
    check_slimmable(final)
    out = args.out
    target = check_target(args.name, out, args.baseline, args.replace)
    arch = read_json(final / "card.json").get("arch", "")
    if args.real_film_check:
        check_real_film(args.real_film_check, arch)

    stage = Path(tempfile.mkdtemp(prefix="ship-compare-model-"))
    staged, base = stage / args.name, stage / "baseline" / args.baseline.name
    results = args.results or stage / f"{args.name}-fresh.json"
    py = sys.executable
    print(f"staging in {stage} ({arch}; compared with {args.baseline})")
    print("+ " + shlex.join([py, "-m", "eclip.model.slim", str(final), str(staged)]), flush=True)
    if not args.print_only:
        stage_slim(final, staged)
        stage_copy(args.baseline, base)
    run([py, "-m", "eclip.evaluate.experiment", "--data", args.data, "--fresh-data", args.fresh_data,
         "--out", str(results), "--group", group_name(args.baseline.name), str(base),
         "--group", group_name(args.name), str(staged),
         "--n-boot", str(args.n_boot), "--update-card", "--selected-on", args.selected_on,
         "--headline-why", args.headline_why, "--quiet"],
        args.print_only)
    run(card_command([staged], args), args.print_only)
    if args.print_only:
        shutil.rmtree(stage)
        print(f"(--print-only: nothing was written; {target} would be installed)")
        return 0
    lines = gate(staged)
    print(f"metric 3 (fresh corpus; interval above both baselines: {', '.join(GATE)}):\n  " + "\n  ".join(lines))
    if any(ln.startswith("FAIL") for ln in lines):
        raise Refused(f"{args.name} does not clear metric 3; nothing was shipped (staged: {stage})")
    install(staged, target, stage)
    name_shipped_paths(results, {str(staged): str(target), str(base): str(args.baseline), f"{REPO}/": ""})
    print(f"shipped: {target} ({mib(target / FILES[0]):.1f} MiB of weights, the text trunk by reference; "
          f"the run's final/ holds {mib(final / FILES[0]):.1f} MiB); results {results} (+ .md); "
          f"staging folder kept: {stage}")
    print(BY_HAND.format(name=args.name, out=target, data=args.data))
    return 0


def main(argv: list[str] | None = None) -> int:
    return refusing("ship_compare_model", ship, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
