"""A visitor never sees a server folder outside the repository in the sidebar: a dataset or
checkpoint configured as an absolute path shows as its folder name; the admin also sees the
dataset's whole path."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[3] / "app" / "main.py")


def _sidebar(**state) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def test_absolute_dataset_and_checkpoint_folders_show_as_their_names_to_visitors(model_env):
    data, ckpt = str(model_env["data"]), str(model_env["checkpoint"])
    assert Path(data).is_absolute() and Path(ckpt).is_absolute()
    at = _sidebar()
    shown = {s.label: s.options for s in at.sidebar.selectbox}
    assert shown["Dataset folder"][0] == Path(data).name
    assert Path(ckpt).name in shown["Active checkpoint"]
    assert not any(data in o or ckpt in o for opts in shown.values() for o in opts)
    assert at.sidebar.selectbox(key="dataset_choice").value == data  # the value is the folder
    assert not any(data in c.value for c in at.sidebar.caption)
    at = _sidebar(admin_ok=True)  # the admin also sees where the dataset is
    assert any(data in c.value for c in at.sidebar.caption)


def test_repository_folders_keep_their_relative_names():
    from app.core import paths

    assert paths.visitor_label("data/demo") == "data/demo"
    assert paths.visitor_label(paths.ROOT / "checkpoints" / "demo-eclip") == "checkpoints/demo-eclip"
    assert paths.visitor_label("/mnt/hospital/mimic-cxr") == "mimic-cxr"
    assert paths.visitor_label("/srv/runs/paper-vitb16/final") == "paper-vitb16/final"


def test_error_messages_reach_visitors_without_server_folders():
    from app.core import paths

    msg = (f"/mnt/hospital/mimic/manifest.csv: no readable manifest.csv. Is /srv/x a dataset? "
           f"See {paths.ROOT}/.cache/index/abc. Ollama at http://127.0.0.1:11434/api is down.")
    shown = paths.redact_folders(msg)
    assert "/mnt/hospital" not in shown and str(paths.ROOT) not in shown
    assert shown.startswith("…/mimic/manifest.csv: no readable") and "Is …/srv/x a dataset?" in shown
    assert "See .cache/index/abc." in shown and "http://127.0.0.1:11434/api" in shown


def test_a_broken_dataset_error_names_its_folder_to_the_admin_only(app_env, tmp_path, monkeypatch):
    """A manifest with the wrong columns: the admin reads the whole path, a visitor only the
    last parts of it (the message still says what is wrong)."""
    broken = tmp_path / "srv" / "hospital" / "mimic"
    broken.mkdir(parents=True)
    (broken / "manifest.csv").write_text("not,the,columns\n1,2,3\n")
    monkeypatch.setenv("ECLIP_DATA", str(broken))
    visitor = [e.value for e in _sidebar().error]
    assert visitor and not any(str(tmp_path) in v for v in visitor), visitor
    assert any(v.startswith("…/mimic/manifest.csv lacks required column") for v in visitor), visitor
    admin = [e.value for e in _sidebar(admin_ok=True).error]
    assert any(str(broken) in v for v in admin), admin
