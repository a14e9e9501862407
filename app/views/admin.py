"""Admin: launch training runs as separate processes, watch their progress, stop them.

Locked behind a password from $ECLIP_ADMIN_PASSWORD or st.secrets["admin_password"]. With
neither configured the page explains how to set one and stays locked.
"""

from __future__ import annotations

import hmac
import time
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app.components import state
from app.core import paths
from app.core.settings import SECRET_KEY, admin_password
from app.jobs import launcher, training
from eclip.train.runfolder import (CHECKPOINTS, PROGRESS, TOTAL_LOSS, ProgressRow, RunState, RunStatus,
                                   loss_names, read_progress)

PASSWORD_ENV = "ECLIP_ADMIN_PASSWORD"
POLL_S = 2.0
STATUS_TEXT = {RunStatus.EXTERNAL: "running (external)"}  # a trainer not started from this page
EXTERNAL_HELP = "Started outside this page (a terminal or a script): stop it there."
LIVE = (RunStatus.STARTING, RunStatus.RUNNING, RunStatus.EXTERNAL)
RESUMABLE = (RunStatus.STOPPED, RunStatus.FAILED)  # from their last checkpoint, if they have one
# Loss lines: (legend name, colour, dash, width). Without expert batches the total IS the
# CLIP part, so the two lines lie on each other: the dashed one stays visible on the solid.
LOSS_LINES = {TOTAL_LOSS: ("total loss", "#1f77b4", "solid", 3.0),
              "loss_clip": ("CLIP (InfoNCE) part", "#d62728", "dash", 2.0),
              "loss_mse": ("priming MSE part", "#2ca02c", "dashdot", 2.0),
              "loss_prior": ("gaze prior KL (unweighted)", "#9467bd", "dot", 2.0),
              "loss_local": ("label-local ranking (unweighted)", "#8c564b", "dot", 2.0)}


def _login(expected: str) -> bool:
    if st.session_state.get(state.ADMIN_KEY):
        return True
    with st.form("admin_login"):
        given = st.text_input("Admin password", type="password", key="admin_pw")
        submitted = st.form_submit_button("Unlock", icon=":material/lock_open:")
    if submitted:
        if hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            st.session_state[state.ADMIN_KEY] = True
            st.rerun()  # redraw without the login form
        time.sleep(0.5)  # slows guessing a little; the real defence is a strong password
        st.error("Wrong password.", icon=":material/lock:")
    return False


def status_label(state: RunState) -> str:
    """The status as the runs table shows it (the run's panel says "running" for an external
    trainer, with EXTERNAL_HELP, where the longer words do not fit)."""
    return STATUS_TEXT.get(state.status, state.status.value)


def _step_text(step: int | None, total: int | None) -> str:
    """"120/400"; "–/400" before the first progress row (a run that failed early)."""
    done = "–" if step is None else str(step)
    return f"{done}/{total}" if total else ("" if step is None else done)


def _config_files() -> list[str]:
    folder = paths.ROOT / "configs"
    return [paths.display(p) for p in sorted(folder.glob("*.toml"))] if folder.is_dir() else []


def _launch_form(root: Path) -> None:
    started = st.session_state.pop("_launched", None)
    if started:
        st.success(started)
    with st.form("launch"):
        st.markdown("**Start a training run** (`python -m eclip.train` in its own process)")
        c1, c2 = st.columns([1, 2])
        # The default is fixed once per session: a widget whose default changed every second
        # would be a new widget on each rerun and lose what the user typed.
        if st.session_state.pop("_fresh_run_name", False) or "run_name" not in st.session_state:
            st.session_state["run_name"] = time.strftime("run-%Y%m%d-%H%M%S")
        name = c1.text_input("Run name", key="run_name")
        configs = ["(built-in defaults)"] + _config_files()
        preferred = next((i for i, c in enumerate(configs) if c.endswith("demo-eclip.toml")),
                         min(1, len(configs) - 1))
        cfg = c2.selectbox("Config file", configs, index=preferred)
        dataset = paths.resolve(state.current_dataset())
        sets = st.text_area("Overrides, one `key=value` per line", height=110,
                            value=f"data.root={dataset}\ntrain.steps=200\n")
        go_clicked = st.form_submit_button("Launch", type="primary", icon=":material/play_arrow:")
    if not go_clicked:
        return
    problem = training.validate_name(name)
    if problem is None and (root / name).exists():
        problem = f"runs/{name} already exists; choose another name"
    try:
        items = training.parse_sets(sets)
    except ValueError as exc:
        problem = problem or str(exc)
    if problem:
        st.error(f"Cannot launch: {problem}.")
        return
    cfg_file = None if cfg.startswith("(") else str(paths.resolve(cfg))
    argv = training.train_command(root / name, cfg_file, items)
    rec = training.launch(root, name, argv)
    st.session_state["watch_run"] = name  # the selectbox shows the new run
    st.session_state["_launched"] = f"Started `{name}` (pid {rec.pid})."
    # The form proposes a new name on the next run. Rerun now: were that run left for the
    # user's next click, it would overwrite the name they had typed meanwhile.
    st.session_state["_fresh_run_name"] = True
    st.rerun()


def _loss_figure(rows: list[ProgressRow]) -> go.Figure:
    steps = [r.step for r in rows]
    with_expert = any(r.p_expert is not None for r in rows)
    fig = make_subplots(specs=[[{"secondary_y": with_expert}]])
    for name in loss_names(rows):  # a part missing from a row is a gap in its line
        label, colour, dash, width = LOSS_LINES.get(name, (name, None, "solid", 2.0))
        fig.add_trace(go.Scatter(x=steps, y=[r.losses.get(name) for r in rows], name=label, mode="lines",
                                 line=dict(color=colour, dash=dash, width=width)))
    if with_expert:
        fig.add_trace(go.Scatter(x=steps, y=[r.p_expert for r in rows], name="expert p",
                                 mode="lines", line=dict(dash="dot", width=2.5, color="#ff7f0e")),
                      secondary_y=True)
        fig.update_yaxes(title_text="expert probability", range=[0, 1], secondary_y=True,
                         tickmode="linear", tick0=0, dtick=0.25, showgrid=False)
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="step",
                      legend=dict(orientation="h", y=1.12))
    return fig


def progress_panel(root: str, name: str, state: RunState) -> None:
    """The state of one run, read from its folder (config.json, progress.jsonl); ``state``
    is what the runs table shows for it (training.run_state)."""
    run_dir = Path(root) / name
    rows = read_progress(run_dir)
    summary = training.summarize(rows, training.read_config(run_dir), run_dir)
    rec = launcher.load_launch(root, name)
    _state_note(state)
    label = f"step {summary.step if summary.step is not None else '–'}"
    if summary.total:
        label += f" / {summary.total}"
    st.progress(summary.fraction or 0.0, text=label)
    _metrics(summary, state)
    if rows:
        st.plotly_chart(_loss_figure(rows), key=f"loss_{name}")
    elif state.status != RunStatus.STARTING:
        st.caption(f"No {PROGRESS} records yet.")
    _run_buttons(root, name, state, rec)
    folders = training.model_folders(run_dir)
    if folders:
        st.caption("Model folders (usable as a checkpoint): "
                   + ", ".join(f"`{paths.display(f)}`" for f in folders))
    if rec is not None:
        with st.expander("Process log", expanded=state.status == RunStatus.FAILED):
            st.code(launcher.tail(rec.log) or "(empty)", language="text")


def _state_note(state: RunState) -> None:
    if state.status == RunStatus.FAILED:
        st.error(f"The run failed: {state.message or 'see the process log below'}", icon=":material/error:")
    elif state.status == RunStatus.STARTING:
        st.info("Starting: the trainer is importing torch and building the model; its progress "
                "shows here from the first logged step.", icon=":material/hourglass_top:")
    elif state.status == RunStatus.STOPPED and state.message:
        st.caption(state.message)


def _metrics(summary: training.Summary, state: RunState) -> None:
    m = st.columns(5)
    m[0].metric("loss", f"{summary.losses[TOTAL_LOSS]:.4f}" if TOTAL_LOSS in summary.losses else "–")
    m[1].metric("expert probability",
                f"{summary.p_expert:.2f}" if summary.p_expert is not None else "–")
    m[2].metric("images/s", f"{summary.images_per_s:.1f}" if summary.images_per_s else "–")
    eta = "done" if state.status == RunStatus.FINISHED else None
    live = state.status in (RunStatus.RUNNING, RunStatus.EXTERNAL)
    m[3].metric("ETA", eta or (training.format_eta(summary.eta_s) if live else "–"))
    if state.status == RunStatus.EXTERNAL:  # the table's "running (external)" is cut off in a fifth of the page
        m[4].metric("status", "running", help=EXTERNAL_HELP)
    else:
        m[4].metric("status", status_label(state))


def _run_buttons(root: str, name: str, state: RunState, rec: launcher.LaunchRecord | None) -> None:
    run_dir = Path(root) / name
    stoppable = rec is not None and state.status in (RunStatus.STARTING, RunStatus.RUNNING)
    if stoppable and st.button("Stop (SIGTERM)", icon=":material/stop:", key=f"stop_{name}"):
        launcher.stop(rec)
        st.toast(f"Sent SIGTERM to {name}: it saves a checkpoint and exits.")
    if state.status in RESUMABLE and (run_dir / CHECKPOINTS).is_dir():
        if st.button("Resume", icon=":material/replay:", key=f"resume_{name}",
                     help="python -m eclip.train --resume: continues exactly where it stopped"):
            training.launch(root, name, training.resume_command(run_dir))
            st.rerun()  # the whole page: the run list shows it running again


def _runs_section(root: Path) -> None:
    found = training.list_runs(root)
    if any(r.status in LIVE for r in found):
        _live_runs(str(root))
    else:
        _draw_runs(root, found)


@st.fragment(run_every=POLL_S)
def _live_runs(root: str) -> None:
    """While a run is live, re-read every POLL_S seconds without rerunning the whole page:
    the table, the picker and the panel together, from one listing, so the table never
    shows an older step or status than the panel. Once none is live, one full rerun
    draws the page without polling."""
    found = training.list_runs(Path(root))
    if not any(r.status in LIVE for r in found):
        paths.forget_checkpoints()  # a finished run's final/ joins the sidebar's lists now
        st.rerun()
    _draw_runs(Path(root), found)


def _draw_runs(root: Path, found: list[training.RunInfo]) -> None:
    if not found:
        st.info(f"No runs under `{paths.display(root)}` yet.")
        return
    table = pd.DataFrame([{
        "run": r.name, "status": status_label(r.state),
        "step": _step_text(r.step, r.total),
        "updated": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.updated)),
        "error": r.state.message if r.status == RunStatus.FAILED else ""} for r in found])
    st.dataframe(table, hide_index=True)
    names = [r.name for r in found]
    if st.session_state.get("watch_run") not in names:  # first visit, or its run was deleted
        st.session_state["watch_run"] = names[0]
    choice = st.selectbox("Watch run", names, key="watch_run")
    progress_panel(str(root), choice, next(r.state for r in found if r.name == choice))


st.title("Admin: training")
expected = admin_password()
if not expected:
    st.warning("The admin page is locked: no admin password is configured.", icon=":material/lock:")
    st.markdown(f"Set one before starting the app, either in the environment "
                f"(`export {PASSWORD_ENV}=...`) or in `.streamlit/secrets.toml` "
                f"(`{SECRET_KEY} = \"...\"`), then reload.")
    st.stop()
if not _login(expected):
    st.stop()
if st.button("Lock", icon=":material/lock:"):
    st.session_state[state.ADMIN_KEY] = False
    st.rerun()
runs_root = paths.runs_root()
_launch_form(runs_root)
st.subheader("Runs")
_runs_section(runs_root)
