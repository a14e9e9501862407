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


def load_prompt_sets(names: tuple[str, ...]) -> list[PromptSet]:
    paths = names or tuple(str(p) for p in list_prompt_sets())
    if not paths:
        raise EvaluationError("no prompt sets found in eclip/assets/prompts; pass --prompts FILE")
    return [load_prompt_set(p) for p in paths]


def model_embeddings(checkpoint: str | Path, data: str | Path, prompt_sets: list[PromptSet],
                     opts: Options) -> tuple[suite.ModelEmbeddings, dict]:
    """Load the model, build or open its index over ``data``, encode the prompts."""
    from eclip.index import build_index
    from eclip.model.checkpoint import checkpoint_name, load_model

    lm = load_model(checkpoint, device=opts.device)
    idx = build_index(checkpoint, data, cache_root=opts.cache, batch_size=opts.batch_size,
                      with_umap=False, device=opts.device, lm=lm, progress=opts.progress,
                      precision=opts.precision)
    emb = suite.ModelEmbeddings(
        image_emb=np.asarray(idx.image_emb), text_emb=np.asarray(idx.text_emb),
        text_index=np.asarray(idx.text_index),
        prompt_emb=encode_prompt_sets(lm, prompt_sets, opts.device))
    ckpt = Path(checkpoint).resolve()
    info = {"path": str(ckpt), "name": checkpoint_name(ckpt),
            "weights_sha256": lm.weights_sha256, "index": str(idx.path),
            "precision": idx.meta.get("precision", "fp32"),
            "card": {k: lm.card.get(k) for k in ("arch", "expert", "steps", "seed", "created_at")
                     if k in lm.card}}
    return emb, info


def eval_items(data: str | Path, prompt_sets: list[PromptSet], opts: Options) -> dict[str, suite.EvalItems]:
    """The item sets: 'all' rows of the split, and 'gaze' rows when the split has any."""
    df = read_manifest(data)
    rows = suite.select_rows(df, opts.split)
    if len(rows) == 0:
        splits = sorted(set(df["split"]))
        raise EvaluationError(f"{data}: split {opts.split!r} has no rows (splits present: {splits}); "
                              "pass --split")
    train = suite.select_rows(df, "train")
    out = {"all": suite.EvalItems(df, rows, train, prompt_sets, opts.probe_seeds,
                                  opts.probe_fractions, opts.seed)}
    gaze = suite.select_rows(df, opts.split, "gaze")
    if len(gaze) >= 2:
        out["gaze"] = suite.EvalItems(df, gaze, train, prompt_sets, opts.probe_seeds,
                                      opts.probe_fractions, opts.seed)
    return out


def result_header(data: str | Path, prompt_sets: list[PromptSet], opts: Options) -> dict:
    return {"version": RESULT_VERSION, "data": {"path": str(Path(data).resolve()),
                                                "fingerprint": fingerprint(data)},
            "split": opts.split, "n_boot": opts.n_boot, "seed": opts.seed,
            "probe": {"seeds": list(opts.probe_seeds), "fractions": list(opts.probe_fractions)},
            "prompt_sets": {ps.name: ps.path for ps in prompt_sets},
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def evaluate(checkpoint: str | Path, data: str | Path, opts: Options | None = None) -> dict:
    opts = opts or Options()
    prompt_sets = load_prompt_sets(opts.prompt_sets)
    items = eval_items(data, prompt_sets, opts)
    emb, info = model_embeddings(checkpoint, data, prompt_sets, opts)
    result = {**result_header(data, prompt_sets, opts), "checkpoint": info, "subsets": {}}
    for name, it in items.items():
        stats, details = suite.statistics(emb, it)
        log.info("bootstrapping %d metrics on %s (%d images)", len(stats), name, len(it.rows))
        result["subsets"][name] = {"n_images": int(len(it.rows)),
                                   "metrics": suite.summarise(stats, opts.n_boot, opts.seed),
                                   "details": details}
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
            results[key]["subsets"][name] = {"n_images": int(len(it.rows)),
                                             "metrics": suite.summarise(st, opts.n_boot, opts.seed),
                                             "details": details}
    diff = {name: suite.compare(stats["a"][name], stats["b"][name], opts.n_boot, opts.seed)
            for name in items}
    return {**header, "a": results["a"], "b": results["b"], "diff": diff}
