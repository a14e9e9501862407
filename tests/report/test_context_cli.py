"""Retrieval context on a real index, and the `python -m eclip.report` command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eclip.data.images import load_working
from eclip.data.manifest import read_manifest
from eclip.model import load_model
from eclip.report.__main__ import main
from eclip.report.api import open_index
from eclip.report.context import build_context
from eclip.report.prompt import DISCLAIMER


@pytest.fixture
def env(report_setup, monkeypatch):
    ckpt, data, cache = report_setup
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(cache))
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    return ckpt, data


def _train_ids(data) -> set[str]:
    df = read_manifest(data)
    return set(df.loc[df["split"] == "train", "id"])


def test_context_clusters_train_reports(env):
    ckpt, data = env
    lm = load_model(ckpt)
    index = open_index(ckpt, data, lm=lm, progress=False)
    df = read_manifest(data)
    pixels = load_working(data / df["image_path"][4])
    ctx = build_context(lm, index, df, pixels, k=10, n_clusters=5, seed=0)
    assert len(ctx.terms) == 5 and ctx.k == 10 and sum(t.cluster_size for t in ctx.terms) == 10
    assert set(ctx.neighbour_ids) <= _train_ids(data) and set(ctx.case_ids) <= set(ctx.neighbour_ids)
    sizes = [t.cluster_size for t in ctx.terms]
    assert sizes == sorted(sizes, reverse=True)
    assert ctx == build_context(lm, index, df, pixels, k=10, n_clusters=5, seed=0)  # seeded
    # k larger than the training split is capped; zero-shot findings are probabilities
    big = build_context(lm, index, df, pixels, k=100)
    assert big.k == len(_train_ids(data)) and len(big.findings) == 5
    assert all(0 <= p <= 1 for _, p in big.findings)
    probs = [p for _, p in big.findings]
    assert probs == sorted(probs, reverse=True)


def _image(data):
    df = read_manifest(data)
    return str(data / df.loc[df["split"] == "test", "image_path"].iloc[0])


def test_cli_retrieval_backend(env, tmp_path, capsys):
    ckpt, data = env
    out = tmp_path / "draft.json"
    rc = main(["--checkpoint", str(ckpt), "--image", _image(data), "--data", str(data),
               "--backend", "retrieval", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and DISCLAIMER in text and "FINDINGS:" in text and "backend: retrieval" in text
    saved = json.loads(out.read_text())
    assert saved["text"] and "Finding number" in saved["text"]
    assert set(saved["provenance"]["retrieved_ids"]) <= _train_ids(data)
    # the checkpoint by name and weights hash, never the folder it sits in (drafts get exported)
    assert saved["provenance"]["checkpoint"] == Path(ckpt).name and str(Path(ckpt).parent) not in text
    assert len(saved["provenance"]["weights_sha256"]) == 64
    # the draft's checks travel with it
    assert {"checked", "conflicts", "repeats", "laterality"} <= set(saved["evidence"])
    assert "validate" in saved["calibration"]


def test_cli_with_fake_ollama(env, ollama_server, capsys):
    ckpt, data = env
    with ollama_server() as srv:
        rc = main(["--checkpoint", str(ckpt), "--image", _image(data), "--data", str(data),
                   "--backend", "ollama", "--ollama-host", srv.host, "--max-new-tokens", "50"])
        chat = [body for path, body in srv.requests if path == "/api/chat"]
    text = capsys.readouterr().out
    assert rc == 0 and "".join(srv.tokens) in text and DISCLAIMER in text
    assert "backend: ollama | model: mistral:7b-instruct" in text
    user = chat[0]["messages"][-1]["content"]
    assert "1. " in user and "Finding number" in user and "Zero-shot finding probabilities" in user
    assert chat[0]["options"]["num_predict"] == 50


def test_cli_ollama_down_exits_2_with_advice(env, absent_host, capsys):
    ckpt, data = env
    rc = main(["--checkpoint", str(ckpt), "--image", _image(data), "--data", str(data),
               "--backend", "ollama", "--ollama-host", absent_host])
    assert rc == 2 and "ollama serve" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_auto_without_ollama_drafts_with_embedded(env, absent_host, capsys):
    ckpt, data = env
    rc = main(["--checkpoint", str(ckpt), "--image", _image(data), "--data", str(data),
               "--ollama-host", absent_host, "--max-new-tokens", "8"])
    text = capsys.readouterr().out
    assert rc == 0 and "backend: embedded | model: SmolLM2-135M-Instruct" in text
    body = text.split("FINDINGS:", 1)[1].split("---", 1)[0]
    assert body.strip()


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "/nonexistent"], "checkpoint folder /nonexistent not found"),
    (["--image", "/nonexistent.png"], "nonexistent.png"),
])
def test_cli_errors_exit_2(env, capsys, args, message):
    ckpt, data = env
    base = {"--checkpoint": str(ckpt), "--image": _image(data)}
    base.update(dict(zip(args[::2], args[1::2])))
    argv = [x for kv in base.items() for x in kv] + ["--data", str(data), "--backend", "retrieval"]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "not a diagnosis" in capsys.readouterr().out


def test_evaluate_reports_retrieval_backend(env, tmp_path, capsys):
    from eclip.report.metrics.cli import main as report_eval_main

    out = tmp_path / "reports.json"
    rc = report_eval_main(["--checkpoint", str(env[0]), "--data", str(env[1]), "--backend", "retrieval",
                           "--no-embeddings", "--out", str(out)])
    assert rc == 0
    saved = json.loads(out.read_text())
    m = saved["metrics"]
    assert m["n"] == 4 and m["backend"] == "retrieval" and 0 <= m["bleu2"] <= 1 and 0 <= m["rouge_l"] <= 1
    assert "embedding_cosine" not in m and 0 <= m["finding_f1_micro"] <= 1
    assert all(r["generated"] and r["reference"] for r in saved["reports"])
    assert '"bleu2"' in capsys.readouterr().out


def test_evaluate_reports_scores_agreement_with_evidence_per_backend(env, tmp_path, capsys, ollama_server):
    from eclip.model.encode import encode_pixels
    from eclip.report.context import zero_shot_evidence
    from eclip.report.evidence import check_draft
    from eclip.report.metrics.cli import main as report_eval_main

    out, table = tmp_path / "reports.json", tmp_path / "table.md"
    tokens = ["The heart is enlarged. ", "No pleural effusion. ", "No pneumothorax."]
    with ollama_server(pulled=["tiny:1b"], tokens=tokens) as srv:
        rc = report_eval_main(["--checkpoint", str(env[0]), "--data", str(env[1]), "--no-embeddings",
                               "--backend", "retrieval", "ollama:tiny:1b", "--ollama-host", srv.host,
                               "--out", str(out), "--markdown", str(table)])
    assert rc == 0
    saved = json.loads(out.read_text())
    assert set(saved["metrics"]) == {"retrieval", "ollama:tiny:1b"}
    ollama = saved["metrics"]["ollama:tiny:1b"]
    assert ollama["backend"] == "ollama" and ollama["model"] == "tiny:1b" and ollama["n"] == 4
    # the agreement rate is the labeller's verdict on each draft against that image's zero-shot p
    lm, df = load_model(env[0]), read_manifest(env[1])
    drafts = [r for r in saved["reports"] if r["backend"] == "ollama:tiny:1b"]
    expected = []
    for r in drafts:
        pixels = load_working(env[1] / df.loc[df["id"] == r["id"], "image_path"].iloc[0])
        check = check_draft(r["generated"], zero_shot_evidence(lm, encode_pixels(lm, pixels)))
        assert r["conflicts"] == [c.message() for c in check.conflicts]
        expected.append(check.agrees)
    assert ollama["evidence_agreement"] == pytest.approx(sum(expected) / 4)
    for m in saved["metrics"].values():
        assert 0 <= m["evidence_finding_agreement"] <= 1 and m["seconds_per_draft"] >= 0
    lines = table.read_text().splitlines()
    assert lines[0] == "| metric | retrieval | ollama:tiny:1b |"
    assert any(line.startswith("| evidence_agreement |") for line in lines)
    assert "| evidence_agreement |" in capsys.readouterr().err


def test_evaluate_reports_unknown_backend_is_actionable(env, capsys):
    from eclip.errors import ReportGenerationError
    from eclip.report.backends import make_backend
    from eclip.report.metrics.cli import main as report_eval_main

    assert report_eval_main(["--checkpoint", str(env[0]), "--data", str(env[1]), "--backend", "gpt"]) == 2
    assert "Unknown backend(s) ['gpt']" in capsys.readouterr().err
    with pytest.raises(ReportGenerationError, match="Unknown embedded model 'nope'; choose one of"):
        make_backend("embedded", embedded_model="nope")


def test_zero_shot_findings_say_how_their_probability_was_made(env):
    ckpt, data = env
    lm = load_model(ckpt)
    index = open_index(ckpt, data, lm=lm, progress=False)
    df = read_manifest(data)
    ctx = build_context(lm, index, df, load_working(data / df["image_path"][4]), k=10)
    # the tiny dataset's handful of validate films calibrate nothing: each finding says why
    assert "validate" in ctx.calibration
    assert all(z.note.startswith("not calibrated (") and "base rate" in z.note for z in ctx.zero_shot)


def test_a_calibrated_finding_shows_its_fitted_probability_and_base_rate(env):
    import math

    from eclip.index.zero_shot_calibration import FindingCalibration, ZeroShotCalibration
    from eclip.model.prompts import load_prompt_set
    from eclip.report.context import zero_shot_evidence

    ckpt, data = env
    lm = load_model(ckpt)
    image = open_index(ckpt, data, lm=lm, progress=False).image_emb[0]
    names = [(b.name, b.labels) for b in load_prompt_set("binary").binary]
    # slope 0: every film gets the intercept's probability, 0.25, whatever the image
    fits = tuple(FindingCalibration(n, tuple(labels), 30, 90, 0.0, math.log(1 / 3)) for n, labels in names)
    found = zero_shot_evidence(lm, image, "binary", ZeroShotCalibration("binary", 10.0, 120, fits))
    assert {round(z.probability, 6) for z in found} == {0.25}
    assert found[0].note == "calibrated on the validate split; base rate 25 % of validate films (30 of 120)"
