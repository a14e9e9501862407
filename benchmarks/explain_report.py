"""Explanation and report-drafting speed on this machine.

1. Seconds per attribution map per method (cache off), on a stored demo image (256 px
   longer side) for the model architectures given (random-init weights unless
   --checkpoint: speed does not depend on the weights), plus a cache hit.
2. Embedded LLM (SmolLM2-135M GGUF): load time, time to first token and tokens/s for the
   real report prompt (two in-context examples + the case).
3. End-to-end draft time (context retrieval + KMeans + zero-shot + generation) with the
   embedded backend (model already loaded) and the retrieval-only backend.
4. Sanity checks (Adebayo et al. 2018) per method: Spearman rank correlation and SSIM
   between the maps of the model and of copies whose image tower is randomised from the
   top down (cascading; the last stage is fully random), and between the maps for each
   case's report and for another case's report. High = the map did not notice.

    python benchmarks/explain_report.py                 # ~2-3 minutes on 2 cores
    python benchmarks/explain_report.py --quick         # smoke run
    python benchmarks/explain_report.py --checkpoint checkpoints/demo-eclip --data data/demo
    python benchmarks/explain_report.py --only sanity --checkpoint checkpoints/demo-eclip --data data/demo
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "numba"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from eclip import explain  # noqa: E402
from eclip.model.checkpoint import LoadedModel  # noqa: E402
from timing import timed  # noqa: E402  (benchmarks/timing.py, beside this script)


SECTIONS = ("maps", "sanity", "llm")


def random_checkpoint(arch: str, root: Path) -> Path:
    from eclip.config import Config, to_dict
    from eclip.model import build_model, save_model

    torch.manual_seed(0)
    cfg = to_dict(Config())
    cfg["model"]["arch"] = arch
    return save_model(root / arch, build_model({"arch": arch}), cfg, dtype="float32")


def demo_data(root: Path, n: int) -> Path:
    """A small demo corpus, built in a child process: the builder's worker pool and thread
    pools must not linger in this process and skew the timings."""
    import subprocess

    out = root / "demo"
    subprocess.run([sys.executable, "-m", "eclip.data", "build-demo", "--out", str(out), "--n", str(n),
                    "--seed", "0", "--no-progress"], check=True)
    return out



def bench_maps(lm: LoadedModel, pixels: np.ndarray, repeats: int, ig_steps: int) -> dict:
    out = {}
    for method in explain.supported_methods(lm):
        reps = 1 if method == "integrated_gradients" else repeats
        out[method] = timed(lambda: explain.attribution_map(
            lm, pixels, "small left pleural effusion", method, use_cache=False, n_steps=ig_steps), reps)
    explain.attribution_map(lm, pixels, "cardiomegaly", "gradcam", image_id="bench")
    out["cache_hit"] = timed(lambda: explain.attribution_map(lm, pixels, "cardiomegaly", "gradcam",
                                                             image_id="bench"), repeats)
    return out


def sanity_cases(data: Path, n: int) -> tuple[list[np.ndarray], list[str], list[str]]:
    """The first ``n`` test cases (gaze cases first), their reports, and as the changed
    prompt the report of the next case with a different text."""
    from eclip.data.images import load_working
    from eclip.data.manifest import read_manifest

    df = read_manifest(data)
    test = df[df["split"] == "test"] if (df["split"] == "test").any() else df
    test = test.assign(_gaze=test["gaze_path"] == "").sort_values("_gaze", kind="stable")
    reports = [explain.resolve_prompt(explain.case_report(r))[0] for _, r in test.iterrows()]
    picked = list(range(min(n, len(test))))
    other = [_next_other(reports, i) for i in picked]
    images = [load_working(data / test.iloc[i]["image_path"]) for i in picked]
    return images, [reports[i] for i in picked], other


def _next_other(texts: list[str], i: int) -> str:
    later = (texts[(i + k) % len(texts)] for k in range(1, len(texts)))
    return next((t for t in later if t != texts[i]), explain.DEFAULT_PROMPT)


def bench_sanity(lm: LoadedModel, data: Path, n_images: int, ig_steps: int) -> list[dict]:
    images, prompts, other = sanity_cases(data, n_images)
    table = explain.sanity.sanity_checks(lm, images, prompts, other, explain.supported_methods(lm),
                                         n_steps=ig_steps)
    return table.to_dict("records")


def print_sanity(name: str, rows: list[dict]) -> None:
    print(f"\nsanity checks, {name}: similarity of the original map to the map after the change "
          "(1 = unchanged; a faithful map should fall towards 0 as weights are randomised)")
    print(f"{'method':22s} {'check':8s} {'randomised down to / change':28s} {'n':>3s} {'Spearman':>9s} {'SSIM':>7s}")
    for r in rows:
        print(f"{r['method']:22s} {r['check']:8s} {r['stage']:28s} {r['n']:3d} {r['spearman']:9.3f} {r['ssim']:7.3f}")


def bench_embedded(max_new_tokens: int) -> dict:
    from eclip.report.embedded import EmbeddedBackend, load_embedded
    from eclip.report.prompt import render_prompt

    t0 = time.perf_counter()
    tok, _ = load_embedded()
    load_s = time.perf_counter() - t0
    prompt = render_prompt(["Small left pleural effusion with blunting of the costophrenic angle.",
                            "The heart is enlarged. No focal consolidation.",
                            "The lungs are clear. Heart size is normal. No effusion or pneumothorax."],
                           [("Pleural Effusion", 0.71), ("Cardiomegaly", 0.33), ("Edema", 0.12)])
    n_prompt = len(tok.apply_chat_template(prompt.messages(), add_generation_prompt=True,
                                           return_dict=True)["input_ids"])
    backend = EmbeddedBackend(max_new_tokens=max_new_tokens)
    t0 = time.perf_counter()
    first, pieces = None, []
    for piece in backend.generate(prompt):
        first = first or time.perf_counter()
        pieces.append(piece)
    end = time.perf_counter()
    n_tokens = len(tok("".join(pieces), add_special_tokens=False)["input_ids"])
    return {"load_s": load_s, "prompt_tokens": n_prompt, "first_token_s": first - t0,
            "new_tokens": n_tokens, "tokens_per_s": (n_tokens - 1) / max(end - first, 1e-9),
            "total_s": end - t0, "text": "".join(pieces)}


def bench_drafts(ckpt: Path, data: Path, repeats: int, max_new_tokens: int,
                 cache_root: Path | None = None) -> dict:
    from eclip.data.images import load_working
    from eclip.data.manifest import read_manifest
    from eclip.model import load_model
    from eclip.report.api import draft_for_pixels, open_index

    lm = load_model(ckpt)
    df = read_manifest(data)
    t0 = time.perf_counter()
    index = open_index(ckpt, data, lm=lm, progress=False, cache_root=cache_root)
    index_s = time.perf_counter() - t0
    pixels = load_working(data / df.loc[df["split"] == "test", "image_path"].iloc[0])
    out = {"index_build_or_load_s": round(index_s, 3), "n_images": len(df)}
    out["draft_retrieval_s"] = timed(lambda: draft_for_pixels(lm, index, df, pixels, backend="retrieval").render(),
                                     repeats)
    # Embedded (model already loaded above): context + prompt + generation, streamed.
    t0 = time.perf_counter()
    stream = draft_for_pixels(lm, index, df, pixels, backend="embedded",
                              options={"max_new_tokens": max_new_tokens})
    first = None
    for _ in stream:
        if first is None and stream.pieces:
            first = time.perf_counter() - t0
    total = time.perf_counter() - t0
    from eclip.report.embedded import load_embedded

    tok, _ = load_embedded()
    out.update(draft_embedded_s=round(total, 3), draft_embedded_first_token_s=round(first, 3),
               draft_embedded_new_tokens=len(tok(stream.text, add_special_tokens=False)["input_ids"]),
               draft_embedded_text=stream.text)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", action="append", help="checkpoint(s) to time (default: random-init archs)")
    p.add_argument("--arch", action="append", help="random-init architectures (default eclip-vit-tiny, eclip-rn-tiny)")
    p.add_argument("--data", help="dataset folder (default: a small demo corpus built in a temp folder)")
    p.add_argument("--n-demo", type=int, default=150, help="images in the temporary demo corpus")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--ig-steps", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--quick", action="store_true", help="few repeats/tokens, small corpus")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--keep", action="store_true", help="keep the temporary checkpoints/corpus/index")
    p.add_argument("--only", action="append", choices=SECTIONS,
                   help="run only these sections (repeatable; default: all)")
    p.add_argument("--sanity-images", type=int, default=8, help="test images in the sanity checks")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.max_new_tokens, args.n_demo, args.sanity_images = 2, 32, 60, 2
    sections = set(args.only or SECTIONS)
    from eclip.model import load_model

    tmp = Path(tempfile.mkdtemp(prefix="bench_explain_"))
    from eclip.settings import settings

    # the index of this run's temporary checkpoints goes with them, unless $ECLIP_INDEX_DIR says
    cache_root = None if "index_dir" in settings().origins else tmp / "index"
    ckpts = [Path(c) for c in args.checkpoint or []] or \
        [random_checkpoint(a, tmp) for a in (args.arch or ["eclip-vit-tiny", "eclip-rn-tiny"])]
    data = Path(args.data) if args.data else demo_data(tmp, args.n_demo)
    from eclip.data.images import load_working
    from eclip.data.manifest import read_manifest

    df = read_manifest(data)
    pixels = load_working(data / df["image_path"].iloc[0])
    results = {"torch_threads": torch.get_num_threads(), "loadavg_1m_at_start": os.getloadavg()[0],
               "image_hw": list(pixels.shape), "maps": {}}
    for ckpt in ckpts:
        lm = load_model(ckpt)
        name = f"{lm.card.get('arch', ckpt.name)}@{lm.image_size}px"
        if "maps" in sections:
            results["maps"][name] = bench_maps(lm, pixels, args.repeats, args.ig_steps)
            print(name, results["maps"][name], flush=True)
        if "sanity" in sections:
            results.setdefault("sanity", {})[name] = bench_sanity(lm, data, args.sanity_images, args.ig_steps)
            print_sanity(f"{name} ({ckpt})", results["sanity"][name])
    if "llm" in sections:
        results["embedded"] = bench_embedded(args.max_new_tokens)
        print("embedded", {k: (round(v, 3) if isinstance(v, float) else v)
                           for k, v in results["embedded"].items() if k != "text"}, flush=True)
        results["drafts"] = bench_drafts(ckpts[0], data, args.repeats, args.max_new_tokens, cache_root)
        print("drafts", {k: v for k, v in results["drafts"].items() if k != "draft_embedded_text"}, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
