"""Write into a checkpoint's card.json (weights untouched): evaluation results
(``update_card``), and what the model carries of its training world (``eclip evaluate card``:
``write_training_world``), with the seeds experiment's answer to "does gaze help?"
(``--gaze-seeds``)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd

from eclip.cli import run_command
from eclip.data.manifest import fingerprint, read_manifest
from eclip.errors import EvaluationError
from eclip.evaluate.gaze_effect import effect, part, read_report, section_for
from eclip.evaluate.suite import baseline_values
from eclip.index.typicality import K, SAMPLE_MAX, fit_reference, sample_rows, save_reference
from eclip.io import sha256_file
from eclip.locations import shown_path
from eclip.model.card import (CARD, INTENDED_USE, GazeEffect, ModelCard, RealFilmCheck, TrainingData, gaze_use,
                              read_card, training_mode, write_card)
from eclip.model.checkpoint import CONFIG, WEIGHTS, LoadedModel, load_model
from eclip.model.encode import encode_images

HEADLINE = (
    "zs/chexpert5/balanced_accuracy",
    "zs/chexpert5/macro_f1",
    "zs/chexpert5/accuracy",
    "zs/findings/balanced_accuracy",
    "zs/findings/macro_f1",
    "zs/findings/accuracy",
    "zs/binary/macro_auroc",
    "retrieval/i2t/R@1",
    "retrieval/i2t/R@5",
    "retrieval/i2t/R@10",
    "retrieval/t2i/R@1",
    "retrieval/t2i/R@5",
    "retrieval/t2i/R@10",
    "geometry/alignment",
    "geometry/uniformity_image",
    "geometry/modality_gap",
    "probe/1%/macro_auroc",
    "probe/10%/macro_auroc",
    "probe/100%/macro_auroc",
)


def headline_metrics(result: dict) -> dict:
    """The card-sized summary of one checkpoint's result (``evaluate()`` output)."""
    metrics = result["subsets"]["all"]["metrics"]
    picked = {}
    for k in HEADLINE:
        m = metrics.get(k)
        if m and all(math.isfinite(m[f]) for f in ("value", "ci_low", "ci_high")):
            picked[k] = [round(m["value"], 4), round(m["ci_low"], 4), round(m["ci_high"], 4)]
    base = baseline_values(result["subsets"]["all"].get("zero_shot", {}))
    baselines = {k: [round(base[k]["majority"], 4), round(base[k]["prior"], 4)] for k in picked if k in base}
    return {
        "data": shown_path(result["data"].get("path", "")),
        "data_fingerprint": result["data"]["fingerprint"],
        "split": result["split"],
        "n_images": result["subsets"]["all"]["n_images"],
        "created_at": result["created_at"],
        "format": "metric: [value, ci95_low, ci95_high]",
        "values": picked,
        **({"baselines": baselines, "baselines_format": "metric: [majority class, train label prior]"}
           if baselines else {}),
    }


FRESH_WHY = "scored on a freshly built corpus that no choice (model, budget, prompt set) was made on"


def update_card(checkpoint: str | Path, result: dict, *, fresh: bool = False,
                selected_on: str = "", why: str = FRESH_WHY) -> Path:
    """Numbers under ``metrics["eval/<split>"]``, or ``"eval/fresh-<split>"`` for a corpus no
    choice saw, which then becomes the card's ``headline`` with ``why`` (say so when a decision
    did read that corpus, e.g. as a ship gate); ``selected_on`` records what the model was
    chosen on (a model picked by its test score has an optimistic test number)."""
    try:
        card = read_card(checkpoint, strict=True)
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"cannot update {Path(checkpoint) / CARD}: {exc}") from exc
    key = f"eval/{'fresh-' if fresh else ''}{result['split']}"
    card = replace(card, metrics={**card.metrics, key: headline_metrics(result)})
    if fresh:
        card = replace(card, headline={"metrics": key, "why": why})
    if selected_on:
        card = replace(card, selected_on=selected_on)
    return write_card(checkpoint, card)


# --------------------------------------------------------------------------- training world
# What a model carries of the world it was trained in (``eclip evaluate card``): typed
# training-data facts, intended use and measured limitations in card.json, and a sample of
# its training images' embeddings (eclip.index.typicality) beside the weights. The weights
# are never written: the sha256 is checked before and after.
SOURCES = {  # manifest 'source' -> (what the model learned from, the report text's licence)
    "demo": ("demo (simulated films, Open-I report text)",
             "CC BY-NC-ND 4.0 (Open-I / Indiana University report text)"),
    "openi": ("Open-I (real films and reports, Indiana University)", "CC BY-NC-ND 4.0"),
    "mimic": ("MIMIC-CXR (real films and reports)", "PhysioNet Credentialed Health Data License 1.5.0"),
}
_TRUE = {"1", "1.0", "true", "True"}


def training_rows(lm: LoadedModel, train_data: str | Path | None = None) -> tuple[Path, pd.DataFrame]:
    """The corpus a model learned from (``train_data``, else its config's ``data.root``) and
    its training-split rows."""
    data_cfg = lm.config.get("data") or {}
    named = str(train_data or data_cfg.get("root") or "")
    root = Path(named)
    if not named or not (root / "manifest.csv").is_file():
        raise EvaluationError(f"the training corpus {named or '(none in config.json)'} of {lm.path} "
                              "has no manifest.csv here; pass --train-data DIR (the folder it was trained on)")
    df = read_manifest(root)
    split = data_cfg.get("train_split") or "train"
    train = df[df["split"].astype(str) == split].reset_index(drop=True)
    if train.empty:
        raise EvaluationError(f"{root} has no {split!r} rows: it is not the corpus this model was trained on")
    return root, train


def check_corpus(card: ModelCard, root: Path, allow_other: bool) -> str:
    """The corpus's fingerprint; refused when the card names another one (a different corpus
    would give another reference), unless ``allow_other`` (a rebuild of the same corpus,
    e.g. with other splits)."""
    fp = fingerprint(root)
    if card.data_fingerprint and fp != card.data_fingerprint and not allow_other:
        raise EvaluationError(
            f"{root} (fingerprint {fp}) is not the corpus this model was trained on (card: "
            f"{card.data_fingerprint}); pass the folder it was trained on, or "
            "--allow-fingerprint-mismatch for a rebuild of it (recorded in card.json)")
    return fp


def training_data(card: ModelCard, root: Path, train: pd.DataFrame, fingerprint: str,
                  source: str = "", text_licence: str = "") -> TrainingData:
    """The card's training-data facts, read from the corpus itself (a rebuild of it does
    not tell how many images the model saw: 0, unknown)."""
    same = not card.data_fingerprint or fingerprint == card.data_fingerprint
    sim = train["simulated"].astype(str).str.strip().isin(_TRUE) if "simulated" in train else None
    names = sorted(set(train["source"].astype(str))) if "source" in train else []
    known = [SOURCES.get(n, (n, "")) for n in names if n]
    return TrainingData(
        simulated=bool(sim is not None and sim.all()),
        source=source or " + ".join(s for s, _ in known) or "unknown",
        text_licence=text_licence or " + ".join(sorted({lic for _, lic in known if lic})) or "unknown",
        root=shown_path(str(root)), fingerprint=card.data_fingerprint or fingerprint,
        n_train=len(train) if same else 0)


def limitations(data: TrainingData, check: RealFilmCheck | None) -> tuple[str, ...]:
    """Only what is known: how the model was trained, what was measured, what the licence
    allows."""
    out = []
    if data.simulated:
        count = f"{data.n_train:,} training images of " if data.n_train else ""
        out.append(f"Trained on simulated films only ({count}the {data.root} corpus).")
    if check:
        text = check.sentence()
        out.append(text[0].upper() + text[1:] + ".")
    elif data.simulated:
        out.append("Not measured on real films.")
    if data.text_licence.startswith("CC BY-NC"):
        out.append(f"Report text licence {data.text_licence}: non-commercial use only.")
    return tuple(out)


def train_reference(lm: LoadedModel, root: Path, train: pd.DataFrame, fingerprint: str, seed: int = 0,
                    limit: int = SAMPLE_MAX, batch_size: int = 32, device: str = "cpu"):
    """The typicality reference of a seeded sample of the training images, encoded by the
    model itself."""
    dim = int(lm.config.get("arch_cfg", {}).get("embed_dim", 0)) or 512
    rows = sample_rows(len(train), dim, limit, seed)
    emb = encode_images(lm, root, train["image_path"].iloc[rows].tolist(), batch_size, device)
    meta = {"weights_sha256": lm.weights_sha256, "data": shown_path(str(root)),
            "data_fingerprint": fingerprint, "seed": seed, "n_train": len(train)}
    return fit_reference(emb, K, meta)


def write_training_world(checkpoint: str | Path, train_data: str | Path | None = None, *,
                         real_film_check: RealFilmCheck | None = None,
                         gaze_effect: GazeEffect | None = None, source: str = "",
                         text_licence: str = "", seed: int = 0, limit: int = SAMPLE_MAX,
                         allow_other_corpus: bool = False, batch_size: int = 32,
                         device: str = "cpu") -> dict:
    """card.json's training-data facts, intended use, limitations and real-film check, and
    ``train_reference.safetensors``, for one checkpoint folder. Rerunnable: the same inputs
    give the same files. A real-film check or gaze effect already on the card stays unless one
    is given."""
    lm = load_model(checkpoint, device=device)  # verifies the weights against the card
    card = read_card(checkpoint)
    root, train = training_rows(lm, train_data)
    fp = check_corpus(card, root, allow_other_corpus)
    ref = train_reference(lm, root, train, fp, seed, limit, batch_size, device)
    data = training_data(card, root, train, fp, source, text_licence)
    check = real_film_check or card.real_film_check
    method = lm.config.get("method") or {}
    extra = dict(card.extra, mode=training_mode(method), gaze=gaze_use(method), train_reference={
        "file": save_reference(checkpoint, ref).name, "n": len(ref.scores), "k": ref.k, "seed": seed,
        "data": data.root, "data_fingerprint": fp,
        "is_training_corpus": not card.data_fingerprint or fp == card.data_fingerprint})
    card = replace(card, training_data=data, intended_use=INTENDED_USE,
                   limitations=limitations(data, check), real_film_check=check,
                   gaze_effect=gaze_effect or card.gaze_effect, extra=extra)
    write_card(checkpoint, card)
    if sha256_file(Path(checkpoint) / WEIGHTS) != lm.weights_sha256:
        raise EvaluationError(f"{checkpoint}/{WEIGHTS} changed while its card was written")
    return card.as_dict()


def _parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="eclip evaluate card",
        description="Write what a checkpoint carries of its training world: card.json's training "
                    "data (simulated?, source, text licence), intended use, limitations and real-film "
                    f"check, and {SAMPLE_MAX:,} at most of its training images' embeddings "
                    "(train_reference.safetensors) for typicality. The weights are not touched.")
    p.add_argument("--checkpoint", nargs="+", required=True, help="checkpoint folder(s)")
    p.add_argument("--train-data", help="the corpus the model was trained on (default: config.json's data.root)")
    p.add_argument("--real-film-check", metavar="JSON",
                   help="a measurement on real films ({metric, value, ci95, n_films, films, model}); "
                        "default: the card's own, if any")
    p.add_argument("--gaze-seeds", metavar="JSON",
                   help="the seeds experiment's report (results/gaze-seeds.json, from "
                        "`python benchmarks/gaze_seeds.py report`): its answer to 'does gaze help?' "
                        "goes on the card: a gaze-prior model's card gets the prior-only arm's answer "
                        "(the report's 'prior' section), every other card eCLIP's; default: the "
                        "card's own, if any")
    p.add_argument("--source", default="", help="what the training corpus is (default: from its 'source' column)")
    p.add_argument("--text-licence", default="", help="licence of its report text (default: from its source)")
    p.add_argument("--sample", type=int, default=SAMPLE_MAX,
                   help="training images in the reference (default %(default)s, and 512 KiB of float16 at most)")
    p.add_argument("--seed", type=int, default=0, help="seed of that sample")
    p.add_argument("--allow-fingerprint-mismatch", action="store_true",
                   help="the corpus is a rebuild of the training corpus (same images, e.g. other splits)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    return p


def _read_check(path: str | None) -> RealFilmCheck | None:
    if not path:
        return None
    try:
        check = RealFilmCheck.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"--real-film-check {path}: {exc}") from exc
    if check is None:
        raise EvaluationError(f"--real-film-check {path} needs metric, value, ci95 [low, high], "
                              "n_films and films")
    return check


def _mode(checkpoint: str | Path) -> str:
    """The checkpoint's training mode (eclip.model.card.training_mode), from its config.json."""
    path = Path(checkpoint) / CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"{path}: cannot read the training method ({exc})") from exc
    return training_mode((config.get("method") if isinstance(config, dict) else None) or {})


def _gaze_effects(path: str | None, checkpoints: list[str]) -> dict[str, GazeEffect]:
    """Per checkpoint, the seeds experiment's answer for its kind of model (``section_for`` its
    training mode): the report is read and every answer phrased before any card is written, so
    a bad file, or a gaze-prior model with no prior section to answer it, changes no card."""
    if not path:
        return {}
    report, out = read_report(path), {}
    for ckpt in checkpoints:
        mode = _mode(ckpt)
        part(report, section_for(mode), f"{path} (for {ckpt}, a {mode} model)")  # the error names the model
        out[ckpt] = effect(report, source=Path(path).name, section=section_for(mode))
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    def run() -> int:
        check = _read_check(args.real_film_check)
        effects = _gaze_effects(args.gaze_seeds, args.checkpoint)
        for ckpt in args.checkpoint:
            gaze = effects.get(ckpt)
            card = write_training_world(
                ckpt, args.train_data, real_film_check=check, gaze_effect=gaze, source=args.source,
                text_licence=args.text_licence, seed=args.seed, limit=args.sample,
                allow_other_corpus=args.allow_fingerprint_mismatch, batch_size=args.batch_size,
                device=args.device)
            ref = card["train_reference"]
            print(f"{ckpt}: {ref['n']} training images ({ref['data']}) in {ref['file']}; "
                  f"caveat: {ModelCard.from_dict(card).caveat or 'none (not trained on simulated films)'}")
            if gaze:
                print(f"  does gaze help? {gaze.answer} ({gaze.n_seeds} seeds, {gaze.source})")
        return 0

    return run_command(run)


if __name__ == "__main__":
    import sys

    sys.exit(main())
