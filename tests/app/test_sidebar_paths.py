"""A visitor never sees a server folder outside the repository in the sidebar: a dataset or
checkpoint configured as an absolute path shows as its folder name; the admin also sees the
dataset's whole path."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


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
    from app import paths

    assert paths.visitor_label("data/demo") == "data/demo"
    assert paths.visitor_label(paths.ROOT / "checkpoints" / "demo-eclip") == "checkpoints/demo-eclip"
    assert paths.visitor_label("/mnt/hospital/mimic-cxr") == "mimic-cxr"
    assert paths.visitor_label("/srv/runs/paper-vitb16/final") == "paper-vitb16/final"
