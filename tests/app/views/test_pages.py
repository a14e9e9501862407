"""Every page rendered with Streamlit's AppTest against the tiny dataset (real files, real
Streamlit script runner, no mocks)."""

from __future__ import annotations

import io
import json
import shutil
import dataclasses
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from eclip.data.manifest import read_manifest, save_array_npz, write_manifest
from eclip.train.runfolder import RunStatus, write_exit, write_trainer_record

from app.core import cases
from app.jobs import launcher
from app.jobs.launcher import JobKind
from app.render.overlay import overlay_png
from eclip.train.runfolder import read_progress

TIMEOUT = 90  # a guard against a hung script, not a speed check: a loaded machine runs a page in 30 s
MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"


def _run(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT).run()
    if page:
        at.switch_page(f"views/{page}").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _traces(at: AppTest) -> list[str]:
    charts = at.get("plotly_chart")
    assert charts, "no plotly chart rendered"
    return [t["type"] for t in json.loads(charts[0].proto.spec)["data"]]


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def _case_ids(at: AppTest) -> list[str]:
    return list(at.selectbox(key="case_id").options)


# --------------------------------------------------------------------------- explore
def test_explore_renders_overlay_and_report(app_env):
    at = _run()
    assert at.title[0].value == "Case browser"
    assert _case_ids(at) == [f"case{i:03d}" for i in range(24)]
    assert _traces(at) == ["image", "heatmap"]  # case000 has gaze
    text = _markdown(at)
    assert "The heart is enlarged" in text and ":red-badge[Cardiomegaly]" in text
    assert "patient `p000`" in "\n".join(c.value for c in at.caption)
    assert at.get("download_button")[0].proto.label == "Download overlay PNG"
    # Only whitelisted columns reach the browser: never the file paths.
    assert list(at.dataframe[0].value.columns) == ["id", "gaze", "findings"]


def test_simulated_badge_in_sidebar_and_on_case(app_env):
    at = _run()
    assert any("SIMULATED data" in m.value for m in at.sidebar.markdown)
    assert "SIMULATED case" in _markdown(at)
    fp = read_manifest(app_env["data"])  # the provenance caption states the row count
    assert any(f"**{len(fp)}** cases" in c.value for c in at.sidebar.caption)


def test_open_i_report_text_is_credited_where_shown_and_exported(app_env, tmp_path, monkeypatch):
    """Open-I's report text (the demo corpus, Open-I imports) carries its licence line under the
    report and in the exported case report; other sources' text carries none."""
    root = Path(shutil.copytree(app_env["data"], tmp_path / "ds"))
    df = read_manifest(root)
    df["source"] = ["demo"] + ["fixture"] * (len(df) - 1)
    write_manifest(df, root)
    monkeypatch.setenv("ECLIP_DATA", str(root))
    at = _run()
    assert cases.OPENI_CREDIT == "Report text: Open-I, Indiana University (CC BY-NC-ND 4.0)"
    assert cases.OPENI_CREDIT in [c.value for c in at.caption]
    at.button(key="cb_export").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert cases.OPENI_CREDIT in at.session_state["_case_report:cb"]["html"]
    at.selectbox(key="case_id").select("case001").run()  # source "fixture": no credit owed
    assert cases.OPENI_CREDIT not in [c.value for c in at.caption]
    at.button(key="cb_export").click().run()
    assert "Open-I" not in at.session_state["_case_report:cb"]["html"]


def test_report_credit_follows_the_source():
    row = lambda source: pd.Series({"id": "x", "source": source})
    for source in ("demo", "openi", "openi-retrieval"):
        assert cases.report_credit(row(source)) == cases.OPENI_CREDIT
    for source in ("mimic", "folder", "fixture", ""):
        assert cases.report_credit(row(source)) == ""
    assert cases.report_credit(pd.Series({"id": "x"})) == ""  # no source column
    assert cases.report_credit(None) == ""  # an upload has no report


def test_filters_change_the_case_list(app_env):
    at = _run()
    at.multiselect(key="f_split").set_value(["test"]).run()
    assert _case_ids(at) == [f"case{i:03d}" for i in range(4, 24, 5)]
    at.multiselect(key="f_split").set_value([]).run()
    at.radio(key="f_gaze").set_value("without gaze").run()
    assert _case_ids(at) == [f"case{i:03d}" for i in range(1, 24, 2)]
    at.radio(key="f_gaze").set_value("all").run()
    at.text_input(key="f_text").input("COSTOPHRENIC").run()
    assert _case_ids(at) == [f"case{i:03d}" for i in range(1, 24, 3)]
    at.text_input(key="f_text").input("").run()
    # Only findings that occur are offered, each with its count.
    assert sorted(at.multiselect(key="f_labels").options) == [
        "Cardiomegaly (8)", "No Finding (8)", "Pleural Effusion (8)"]
    at.multiselect(key="f_labels").set_value(["Cardiomegaly"]).run()
    assert _case_ids(at) == [f"case{i:03d}" for i in range(0, 24, 3)]
    at.text_input(key="f_text").input("no such words").run()
    assert not at.exception
    assert any("No case matches" in i.value for i in at.info)


def test_case_without_gaze_says_so(app_env):
    at = _run()
    at.selectbox(key="case_id").select("case001").run()
    assert any("No gaze for this case" in i.value for i in at.info)
    assert _traces(at) == ["image"]
    assert at.toggle(key="show_gaze_na").disabled
    at.selectbox(key="case_id").select("case002").run()  # back to a gaze case: shown again
    assert _traces(at) == ["image", "heatmap"]


def test_opacity_and_colour_scale_reach_the_figure(app_env):
    at = _run()
    at.slider(key="opacity").set_value(0.8).run()
    at.selectbox(key="colour_scale").select("Jet").run()
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][1]
    assert heat["opacity"] == pytest.approx(0.8)
    assert heat["colorscale"][0][1] == "rgba(0,0,131,0.000)"  # Jet, transparent at zero
    assert heat["colorscale"][-1][1] == "rgba(128,0,0,1.000)"  # ... opaque at the top
    at.toggle(key="show_gaze").set_value(False).run()
    assert _traces(at) == ["image"]


def test_masks_toggle_draws_outlines(tiny_dataset, tmp_path, monkeypatch):
    root = Path(shutil.copytree(tiny_dataset, tmp_path / "ds"))
    df = read_manifest(root)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 16:48] = True
    save_array_npz(root / "masks" / "case000.npz", Cardiomegaly=mask)
    df["mask_path"] = ["masks/case000.npz"] + [""] * (len(df) - 1)
    write_manifest(df, root)
    monkeypatch.setenv("ECLIP_DATA", str(root))
    at = _run()
    assert not at.toggle(key="show_masks").disabled
    at.toggle(key="show_masks").set_value(True).run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["type"] for t in spec["data"]] == ["image", "heatmap", "contour"]
    assert spec["data"][2]["name"] == "Cardiomegaly"
    at.selectbox(key="case_id").select("case001").run()  # no mask file for this case
    assert at.toggle(key="show_masks_na").disabled


def test_missing_dataset_explains_how_to_build_the_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("ECLIP_DATA", str(tmp_path / "nothing-here"))
    at = _run()
    assert any("No dataset at" in e.value for e in at.error)
    assert "build-demo" in _markdown(at) + "".join(c.value for c in at.code)


def test_broken_manifest_is_an_error_message_not_a_traceback(tmp_path, monkeypatch):
    (tmp_path / "manifest.csv").write_text("id,image_path\nx,y.png\n")
    monkeypatch.setenv("ECLIP_DATA", str(tmp_path))
    at = _run()
    assert any("lacks required column" in e.value for e in at.error)


def test_corrupt_image_and_missing_gaze_are_messages(tiny_dataset, tmp_path, monkeypatch):
    root = Path(shutil.copytree(tiny_dataset, tmp_path / "ds"))
    (root / "images" / "case000.png").write_bytes(b"not a png at all")
    (root / "gaze" / "case002.npz").unlink()
    monkeypatch.setenv("ECLIP_DATA", str(root))
    at = _run()
    assert any("case000.png" in e.value for e in at.error)
    assert not at.get("plotly_chart")
    assert "The heart is enlarged" in _markdown(at)  # the report is still shown
    at.selectbox(key="case_id").select("case002").run()
    assert not at.exception
    assert any("case002.npz" in e.value and "not found" in e.value for e in at.error)


def test_overlay_png_is_a_tinted_upscaled_image():
    img = np.full((64, 48), 0.5, np.float32)
    hm = np.zeros((64, 48), np.float32)
    hm[30:34, 20:24] = 0.5  # 'Hot' at half the maximum is red (and past the alpha ramp)
    hm[60, 2] = 1.0
    im = Image.open(io.BytesIO(overlay_png(img, hm, opacity=0.7, colour_scale="Hot")))
    assert im.mode == "RGB" and im.size == (48 * 8, 64 * 8)  # longer side >= 512
    px = np.asarray(im)
    assert tuple(px[0, 0]) == (128, 128, 128)  # no gaze: the grey film is untouched
    r, g, b = px[32 * 8, 22 * 8]
    assert r > g and r > b  # the gaze spot takes the colour scale


def test_filter_cases_is_literal_and_case_insensitive():
    df = pd.DataFrame({"findings": ["a (b) c", "x"], "impression": ["", "Y+"], "split": ["train"] * 2,
                       "gaze_path": ["", "g.npz"]})
    assert len(cases.filter_cases(df, cases.CaseFilter(text="(B)"))) == 1
    assert len(cases.filter_cases(df, cases.CaseFilter(text="y+", gaze="with gaze"))) == 1
    assert len(cases.filter_cases(df, cases.CaseFilter(text="y+", gaze="without gaze"))) == 0


def test_every_finding_has_its_own_plot_colour_whatever_else_is_shown():
    from eclip.data.manifest import LABELS

    every = [*LABELS, "unlabelled"]  # 15 groups: the default plotly sequence has 10 colours
    colours = cases.group_colours(every)
    assert len(set(colours.values())) == len(every)
    assert cases.group_colours(["Pneumothorax", "Edema"]) == {
        "Pneumothorax": colours["Pneumothorax"], "Edema": colours["Edema"]}
    mixed = cases.group_colours(["No Finding", "train", "test", "validate"])
    assert len(set(mixed.values())) == 4 and mixed["No Finding"] == colours["No Finding"]


def test_finding_colours_are_far_apart_to_the_eye_and_readable_on_white():
    """Distinct strings are not enough (plotly's Dark24 has #FB00D1 and #FC0080): the closest
    two finding colours are at least 15 CIEDE2000 apart (Dark24's first 15: 8.7)."""
    from itertools import combinations

    from skimage.color import deltaE_ciede2000, rgb2lab

    rgb = np.array([[int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)]
                    for c in cases.FINDING_COLOURS.values()])
    lab = rgb2lab(rgb[None])[0]
    closest = min(deltaE_ciede2000(lab[a], lab[b]) for a, b in combinations(range(len(lab)), 2))
    assert closest >= 15 and lab[:, 0].max() < 72


# --------------------------------------------------------------------------- admin
def test_admin_locked_without_configured_password(app_env):
    at = _run("admin.py")
    assert any("no admin password is configured" in w.value for w in at.warning)
    assert "ECLIP_ADMIN_PASSWORD" in _markdown(at)
    assert [t.key for t in at.main.text_input] == [] and not at.main.button
    # Every page runs under main.py's st.navigation, so the shared sidebar is always there.
    assert at.sidebar.selectbox(key="dataset_choice").value == str(app_env["data"])


def test_admin_wrong_then_right_password(app_env, monkeypatch):
    monkeypatch.setenv("ECLIP_ADMIN_PASSWORD", "correct horse")
    at = _run("admin.py")
    at.text_input(key="admin_pw").input("correct hors")
    at.button[0].click().run()
    assert any("Wrong password" in e.value for e in at.error)
    assert "Launch" not in [b.label for b in at.button]
    at.text_input(key="admin_pw").input("correct horse")
    at.button[0].click().run()
    assert not at.exception
    assert "Launch" in [b.label for b in at.button]
    assert any("No runs under" in i.value for i in at.info)


def test_admin_password_from_secrets(app_env):
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.secrets["admin_password"] = "from-secrets"
    at.run()
    at.switch_page("views/admin.py").run()
    at.text_input(key="admin_pw").input("from-secrets")
    at.button[0].click().run()
    assert "Launch" in [b.label for b in at.button]


def _write_run(run_dir, steps, total=100, partial=True):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps({"train": {"steps": total}}))
    lines = [json.dumps({"step": s, "epoch": s / 50, "loss": 3.0 - s / 100,
                         "loss_clip": 2.5 - s / 100, "loss_expert": 0.5, "lr": 1e-4,
                         "p_expert": 0.25, "images_per_s": 42.0, "eta_s": (total - s) * 2.0})
             for s in steps]
    text = "\n".join(lines) + "\n" + ('{"step": 9' if partial else "")  # trainer mid-write
    (run_dir / "progress.jsonl").write_text(text)


def _unlocked_admin(monkeypatch) -> AppTest:
    monkeypatch.setenv("ECLIP_ADMIN_PASSWORD", "pw")
    at = _run("admin.py")
    at.text_input(key="admin_pw").input("pw")
    at.button[0].click().run()
    assert not at.exception
    return at


def test_progress_polling_reads_the_run_folder(app_env, monkeypatch):
    run_dir = app_env["runs"] / "demo-run"
    _write_run(run_dir, range(10, 50, 10))
    at = _unlocked_admin(monkeypatch)
    assert at.dataframe[0].value["run"].tolist() == ["demo-run"]
    assert at.get("progress")[0].proto.value == 40
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["loss"] == "2.6000" and metrics["expert probability"] == "0.25"
    assert metrics["images/s"] == "42.0" and metrics["status"] == "stopped"
    assert metrics["ETA"] == "–"  # nothing is training it
    loss_fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in loss_fig["data"]] == ["total loss", "CLIP (InfoNCE) part", "loss_expert",
                                                      "expert p"]
    # told apart even where they coincide (the CLIP baseline: total == CLIP part)
    total, clip = loss_fig["data"][:2]
    assert total["line"]["color"] != clip["line"]["color"]
    assert (total["line"]["dash"], clip["line"]["dash"]) == ("solid", "dash")
    _write_run(run_dir, range(10, 110, 10), partial=False)  # the trainer went on and finished
    at.run()
    assert at.get("progress")[0].proto.value == 100
    assert {m.label: m.value for m in at.metric}["status"] == "finished"


def test_a_trainer_started_elsewhere_is_recognised(app_env, monkeypatch):
    run_dir = app_env["runs"] / "cli-run"
    _write_run(run_dir, range(10, 50, 10))
    # A live process that the run folder names as its trainer, as a terminal-started
    # `python -m eclip.train` records itself in trainer.json.
    fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_trainer_record(run_dir, fake.pid)
        at = _unlocked_admin(monkeypatch)
        assert at.dataframe[0].value["status"].tolist() == ["running (external)"]
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["status"] == "running" and metrics["ETA"] == "2m 00s"  # fits its column
        assert "Started outside this page" in next(m.help for m in at.metric if m.label == "status")
        assert not [b for b in at.button if b.label in ("Stop (SIGTERM)", "Resume")]
    finally:
        fake.terminate()
        fake.wait(timeout=10)


def test_read_progress_skips_partial_and_corrupt_lines(tmp_path):
    (tmp_path / "progress.jsonl").write_text('{"step": 1}\nnot json\n[1]\n\n{"step": 2}\n{"st')
    assert [r.step for r in read_progress(tmp_path)] == [1, 2]
    assert read_progress(tmp_path / "missing") == []


def test_launch_and_stop_a_real_process(tmp_path):
    argv = [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"]
    rec = launcher.launch(tmp_path, "sleeper", JobKind.TRAINING, argv)
    proc = psutil.Process(rec.pid)
    try:
        deadline = time.time() + 10
        while "started" not in launcher.tail(rec.log) and time.time() < deadline:
            time.sleep(0.05)
        assert "started" in launcher.tail(rec.log)  # its output goes to the recorded log
        assert launcher.is_alive(launcher.load_launch(tmp_path, "sleeper"))
        if rec.start_ticks is not None:  # the clock stepped since the launch: still this job
            assert launcher.is_alive(dataclasses.replace(rec, create_time=rec.create_time - 31))
        assert launcher.stop(rec)
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        if proc.is_running():
            proc.kill()
    assert not launcher.is_alive(rec)
    assert not launcher.stop(rec)  # nothing left to signal


def test_launch_form_starts_eclip_train_with_the_overrides(app_env, monkeypatch):
    at = _unlocked_admin(monkeypatch)
    at.main.text_input[0].input("bad name!")
    launch = next(b for b in at.button if b.label == "Launch")
    launch.click().run()
    assert any("Cannot launch" in e.value for e in at.error)
    at.main.text_input[0].input("t1")
    at.text_area[0].input("train.steps=2\ntrain.batch_size=4\n")
    next(b for b in at.button if b.label == "Launch").click().run()
    rec = launcher.load_launch(app_env["runs"], "t1")
    assert rec is not None
    try:
        assert rec.kind == JobKind.TRAINING and rec.argv[1:3] == ["-m", "eclip.train"]
        assert rec.argv[-2:] == ["--out", str(app_env["runs"] / "t1")]
        assert ["--set", "train.steps=2"] == rec.argv[rec.argv.index("--set"):][:2]
    finally:  # never leave the trainer behind
        launcher.stop(rec)
        try:
            psutil.Process(rec.pid).wait(timeout=60)
        except psutil.NoSuchProcess:
            pass


def _stop_and_wait(rec) -> None:
    launcher.stop(rec)
    try:
        psutil.Process(rec.pid).wait(timeout=60)
    except psutil.NoSuchProcess:
        pass


def _table_status(at: AppTest) -> dict[str, str]:
    return at.dataframe[0].value.set_index("run")["status"].to_dict()


def test_a_launched_run_shows_at_once_as_starting(app_env, monkeypatch):
    """The trainer writes its folder only after importing torch and building the model;
    the run must not wait for that (nor for a reload) to appear in the table and the panel."""
    at = _unlocked_admin(monkeypatch)
    assert any("No runs under" in i.value for i in at.info)
    at.main.text_input[0].input("fresh")
    at.text_area[0].input(f"data.root={app_env['data']}\ntrain.steps=2\n")
    next(b for b in at.button if b.label == "Launch").click().run()
    rec = launcher.load_launch(app_env["runs"], "fresh")
    try:
        assert not at.exception
        assert not (app_env["runs"] / "fresh").exists()  # nothing written by the trainer yet
        assert _table_status(at) == {"fresh": "starting"}
        assert at.selectbox(key="watch_run").value == "fresh"
        assert {m.label: m.value for m in at.metric}["status"] == "starting"
        assert any(i.value.startswith("Starting") for i in at.info)
        assert [b.label for b in at.button if b.label.startswith("Stop")] == ["Stop (SIGTERM)"]
        assert any("Started `fresh`" in x.value for x in at.success)
        # the next name is proposed now, not on the next click, which would overwrite
        # whatever the user typed in between
        assert at.main.text_input[0].value.startswith("run-")
    finally:
        _stop_and_wait(rec)


def test_a_failed_run_shows_failed_with_its_error(app_env, monkeypatch):
    """What the trainer recorded as its ending (RUN/exit.json) decides: failed, not stopped."""
    run_dir = app_env["runs"] / "broken"
    _write_run(run_dir, range(10, 30, 10), partial=False)
    message = "training stopped at step 25: the loss is not finite (loss nan); Lower train.lr"
    write_exit(run_dir, RunStatus.FAILED, message)
    at = _unlocked_admin(monkeypatch)
    table = at.dataframe[0].value.set_index("run")
    assert table.loc["broken", "status"] == "failed" and table.loc["broken", "error"] == message
    assert {m.label: m.value for m in at.metric}["status"] == "failed"
    assert any(message in e.value for e in at.error)
    early = app_env["runs"] / "early"  # failed before its first progress row
    early.mkdir()
    (early / "config.json").write_text(json.dumps({"train": {"steps": 40}}))
    write_exit(early, RunStatus.FAILED, "ModelError: no such architecture")
    at.run()
    table = at.dataframe[0].value.set_index("run")
    assert table.loc["early", "status"] == "failed" and table.loc["early", "step"] == "–/40"


def test_table_and_panel_agree_on_every_run(app_env, monkeypatch):
    root = app_env["runs"]
    _write_run(root / "done", range(10, 110, 10), partial=False)
    _write_run(root / "halted", range(10, 30, 10), partial=False)
    write_exit(root / "halted", RunStatus.STOPPED, "stopped (checkpoint saved) by SIGTERM after 20 steps")
    _write_run(root / "crashed", range(10, 30, 10), partial=False)
    write_exit(root / "crashed", RunStatus.FAILED, "RuntimeError: CUDA out of memory")
    _write_run(root / "elsewhere", range(10, 30, 10), partial=False)
    fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_trainer_record(root / "elsewhere", fake.pid)
        at = _unlocked_admin(monkeypatch)
        table = _table_status(at)
        assert table == {"done": "finished", "halted": "stopped", "crashed": "failed",
                         "elsewhere": "running (external)"}
        for name, status in table.items():
            at.selectbox(key="watch_run").select(name).run()
            assert not at.exception
            panel = next(m for m in at.metric if m.label == "status")
            if status == "running (external)":  # the panel's column is narrower: the rest is its help
                assert (panel.value, "outside this page" in panel.help) == ("running", True), name
            else:
                assert panel.value == status, name
    finally:
        fake.terminate()
        fake.wait(timeout=10)



def test_the_overlay_png_is_drawn_only_when_downloaded(app_env, monkeypatch):
    from app.render import overlay

    drawn = []
    monkeypatch.setattr(overlay, "overlay_png", lambda *a, **k: drawn.append(1) or b"png")
    at = _run()
    button = at.get("download_button")[0].proto
    assert button.label == "Download overlay PNG" and not button.url  # no file built for this run
    assert drawn == []
