"""Evaluate checkpoints on a dataset through the embedding index.

``evaluate(...)`` gives the result dict of one checkpoint; ``evaluate_pair(...)`` that of two
checkpoints on identical items with paired bootstrap differences. Both return plain JSON-able
dicts; the CLI in ``__main__`` writes them and their Markdown tables.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eclip.data.manifest import fingerprint, read_manifest
from eclip.errors import EvaluationError
from eclip.evaluate import suite
from eclip.index import build_index
from eclip.locations import shown_path
from eclip.model.checkpoint import checkpoint_name, load_model
from eclip.model.encode import encode_prompt_sets
from eclip.model.prompts import PromptSet, list_prompt_sets, load_prompt_set

log = logging.getLogger(__name__)

RESULT_VERSION = 1


@dataclass
class Options:
    split: str = "test"
    prompt_sets: tuple[str, ...] = ()  # names or paths; () = every file in eclip/assets/prompts
    n_boot: int = 1000
    seed: int = 0
    probe_seeds: tuple[int, ...] = (0, 1, 2)
    probe_fractions: tuple[float, ...] = suite.PROBE_FRACTIONS
    batch_size: int = 32
    device: str = "cpu"
    cache: str | None = None
    progress: bool = True
    precision: str | None = None  # of the index embeddings: auto | fp32 | bf16 (None = default)
    min_positives: int = suite.MIN_POSITIVES  # a pair's AUROC needs this many positives and negatives
    missing: str = "labelled"  # what a blank label means: labelled | exclude | negative (targets.py)


def load_prompt_sets(names: tuple[str, ...]) -> list[PromptSet]:
    paths = names or tuple(str(p) for p in list_prompt_sets())
    if not paths:
        raise EvaluationError("no prompt sets found in eclip/assets/prompts; pass --prompts FILE")
    return [load_prompt_set(p) for p in paths]


def model_embeddings(checkpoint: str | Path, data: str | Path, prompt_sets: list[PromptSet],
                     opts: Options) -> tuple[suite.ModelEmbeddings, dict]:
    """Load the model, build or open its index over ``data``, encode the prompts."""
    lm = load_model(checkpoint, device=opts.device)
    idx = build_index(checkpoint, data, cache_root=opts.cache, batch_size=opts.batch_size,
                      with_umap=False, device=opts.device, lm=lm, progress=opts.progress,
                      precision=opts.precision)
    emb = suite.ModelEmbeddings(
        image_emb=np.asarray(idx.image_emb), text_emb=np.asarray(idx.text_emb),
        text_index=np.asarray(idx.text_index),
        prompt_emb=encode_prompt_sets(lm, prompt_sets, opts.device))
    ckpt = Path(checkpoint).resolve()
    info = {"path": shown_path(ckpt), "name": checkpoint_name(ckpt),
            "weights_sha256": lm.weights_sha256, "index": shown_path(idx.path),
            "precision": idx.meta.get("precision", "fp32"),
            "card": {k: v for k, v in lm.model_card.as_dict().items()
                     if k in ("arch", "expert", "steps", "seed", "created_at")},
            # every result of a model trained on simulated films says so (eclip.model.card)
            "model_caveat": lm.model_card.caveat,
            "training_data": lm.model_card.training_data.as_dict()}
    return emb, info


def eval_items(data: str | Path, prompt_sets: list[PromptSet], opts: Options,
               keep: np.ndarray | None = None,
               clusters: np.ndarray | None = None) -> dict[str, suite.EvalItems]:
    """The item sets: 'all' rows of the split, and 'gaze' rows when the split has any.

    ``keep`` (a mask over the manifest's rows) leaves rows out of the evaluated ones;
    ``clusters`` (one id per manifest row) makes the bootstrap resample clusters of rows
    (``eclip.evaluate.disjoint``)."""
    df = read_manifest(data)
    rows = suite.select_rows(df, opts.split)
    if len(rows) == 0:
        splits = sorted(set(df["split"]))
        raise EvaluationError(f"{data}: split {opts.split!r} has no rows (splits present: {splits}); "
                              "pass --split")
    train = suite.select_rows(df, "train")
    out = {}
    for name in ("all", "gaze"):
        sel = rows if name == "all" else suite.select_rows(df, opts.split, "gaze")
        if keep is not None:
            sel = sel[np.asarray(keep, bool)[sel]]
        if name == "all" and len(sel) == 0:
            raise EvaluationError(f"{data}: no row of split {opts.split!r} is left to evaluate")
        if name == "all" or len(sel) >= 2:
            out[name] = suite.EvalItems(df, sel, train, prompt_sets, opts.probe_seeds,
                                        opts.probe_fractions, opts.seed, min_positives=opts.min_positives,
                                        missing=opts.missing,
                                        clusters=None if clusters is None else np.asarray(clusters)[sel])
    return out


def subset_result(items: suite.EvalItems, stats: dict[str, suite.Stat], opts: Options,
                  details: dict | None = None) -> dict:
    """One subset's entry of a result: its size, every metric with its interval, the
    zero-shot reference (counts and baselines, ``suite.zero_shot_reference``)."""
    out = {"n_images": int(len(items.rows)),
           "metrics": suite.summarise(stats, opts.n_boot, opts.seed, items.clusters),
           "zero_shot": suite.zero_shot_reference(items)}
    if items.clusters is not None:
        out["n_clusters"] = int(len(np.unique(items.clusters)))
    if details is not None:
        out["details"] = details
    return out


def result_header(data: str | Path, prompt_sets: list[PromptSet], opts: Options) -> dict:
    return {"version": RESULT_VERSION, "data": {"path": shown_path(data),
                                                "fingerprint": fingerprint(data)},
            "split": opts.split, "n_boot": opts.n_boot, "seed": opts.seed,
            "probe": {"seeds": list(opts.probe_seeds), "fractions": list(opts.probe_fractions)},
            "min_positives": opts.min_positives, "missing_labels": opts.missing,
            "prompt_sets": {ps.name: shown_path(ps.path) for ps in prompt_sets},
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def evaluate(checkpoint: str | Path, data: str | Path, opts: Options | None = None) -> dict:
    opts = opts or Options()
    prompt_sets = load_prompt_sets(opts.prompt_sets)
    items = eval_items(data, prompt_sets, opts)
    emb, info = model_embeddings(checkpoint, data, prompt_sets, opts)
    result = {**result_header(data, prompt_sets, opts), "model_caveat": info["model_caveat"],
              "checkpoint": info, "subsets": {}}
    for name, it in items.items():
        stats, details = suite.statistics(emb, it)
        log.info("bootstrapping %d metrics on %s (%d images)", len(stats), name, len(it.rows))
        result["subsets"][name] = subset_result(it, stats, opts, details)
    return result


def evaluate_pair(checkpoint_a: str | Path, checkpoint_b: str | Path, data: str | Path,
                  opts: Options | None = None) -> dict:
    """Both checkpoints on the same items; ``diff`` holds paired bootstrap b - a."""
    opts = opts or Options()
    prompt_sets = load_prompt_sets(opts.prompt_sets)
    items = eval_items(data, prompt_sets, opts)
    header = result_header(data, prompt_sets, opts)
    results, stats = {}, {}
    for key, ckpt in (("a", checkpoint_a), ("b", checkpoint_b)):
        emb, info = model_embeddings(ckpt, data, prompt_sets, opts)
        results[key] = {**header, "checkpoint": info, "subsets": {}}
        stats[key] = {}
        for name, it in items.items():
            st, details = suite.statistics(emb, it)
            stats[key][name] = st
            results[key]["subsets"][name] = subset_result(it, st, opts, details)
    diff = {name: suite.compare(stats["a"][name], stats["b"][name], opts.n_boot, opts.seed,
                                items[name].clusters)
            for name in items}
    caveats = {key: results[key]["checkpoint"]["model_caveat"] for key in "ab"}
    return {**header, "model_caveat": caveats, "a": results["a"], "b": results["b"], "diff": diff}
