"""A frozen pretrained text trunk saved by reference (eclip.model.text_trunk): the file leaves
the trunk out and names it by digest; loading rebuilds it from the installed package, exactly,
and refuses a trunk that is not the one named. The trained parts load as before."""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from eclip.config import load_config, to_dict
from eclip.errors import ModelError
from eclip.model import get_tokenizer
from eclip.model.checkpoint import load_model, save_model
from eclip.model.eclip import build_model
from eclip.model.slim import main as slim_main
from eclip.model.text_features import hf_text_tower
from eclip.model.text_trunk import TRUNK_PREFIX, installed_trunk
from tests.floats import assert_close

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "demo20k-eclip-rn-local.toml"
REPORTS = ["Heart size is normal. No pleural effusion.", "Cardiomegaly. Mild pulmonary edema."]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A lock_text model whose trained parts moved away from their init, saved both ways in fp16."""
    cfg = load_config(CONFIG)
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.method).eval()
    with torch.no_grad():
        hf_text_tower(model.clip).proj.weight.add_(0.01)
    root = tmp_path_factory.mktemp("ck")
    config = to_dict(cfg)
    save_model(root / "full", model, config, dtype="float16")
    save_model(root / "slim", model, config, dtype="float16", text_trunk="reference")
    return model, root


def test_the_file_leaves_the_trunk_out_and_names_it(trained):
    _, root = trained
    files = {kind: root / kind / "model.safetensors" for kind in ("slim", "full")}
    slim, full = load_file(str(files["slim"])), load_file(str(files["full"]))
    assert not any(k.startswith(TRUNK_PREFIX) for k in slim)
    assert set(full) - set(slim) == {k for k in full if k.startswith(TRUNK_PREFIX)}
    assert files["slim"].stat().st_size < 0.3 * files["full"].stat().st_size
    with safe_open(str(root / "slim" / "model.safetensors"), "pt") as f:
        assert len(f.metadata()["text_trunk"]) == 32
    assert "by reference" in json.loads((root / "slim" / "card.json").read_text())["text_trunk"]
    assert "text_trunk" not in json.loads((root / "full" / "card.json").read_text())


def test_loading_rebuilds_the_installed_trunk_exactly_and_the_trained_parts_as_saved(trained):
    model, root = trained
    slim, full = load_model(root / "slim"), load_model(root / "full")
    fresh = installed_trunk(model.arch_cfg).transformer.state_dict()
    for k, v in hf_text_tower(slim.model.clip).transformer.state_dict().items():
        assert torch.equal(v, fresh[k]), k  # fp32, not the fp16 rounding the full file holds
    for k, v in slim.model.clip.state_dict().items():
        if not k.startswith(TRUNK_PREFIX):
            assert torch.equal(v, full.model.clip.state_dict()[k]), k
    tokens = get_tokenizer(model.arch_cfg)(REPORTS)
    with torch.no_grad():
        assert_close(slim.model.encode_text(tokens), model.encode_text(tokens), atol=2e-3)
        assert_close(slim.model.encode_text(tokens), full.model.encode_text(tokens), atol=2e-3)


def test_a_file_naming_another_trunk_is_refused(trained, tmp_path):
    _, root = trained
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("config.json",):
        (bad / name).write_text((root / "slim" / name).read_text())
    save_file(load_file(str(root / "slim" / "model.safetensors")), str(bad / "model.safetensors"),
              metadata={"format": "pt", "eclip": "1", "text_trunk": "0" * 32})
    with pytest.raises(ModelError, match="installed pretrained text model differs"):
        load_model(bad)


def test_a_trunk_that_is_not_the_installed_one_cannot_be_referenced(tmp_path):
    cfg = load_config(CONFIG)
    model = build_model(cfg.model, cfg.method)
    with torch.no_grad():
        next(hf_text_tower(model.clip).transformer.parameters()).add_(0.01)
    with pytest.raises(ModelError, match="differs from the installed pretrained one"):
        save_model(tmp_path / "x", model, to_dict(cfg), text_trunk="reference")
    assert not (tmp_path / "x" / "model.safetensors").exists()


def test_slim_copies_the_folder_with_the_trunk_by_reference(trained, tmp_path, capsys):
    _, root = trained
    (root / "full" / "train_reference.safetensors").write_bytes(b"reference")
    assert slim_main([str(root / "full"), str(tmp_path / "slim")]) == 0
    assert "by reference" in capsys.readouterr().out
    assert (tmp_path / "slim" / "train_reference.safetensors").read_bytes() == b"reference"
    assert load_model(tmp_path / "slim").card["text_trunk"].startswith("by reference")
    with pytest.raises(SystemExit):
        slim_main([str(root / "full"), str(tmp_path / "slim")])  # not over a filled folder


def test_a_slim_copy_of_an_fp16_checkpoint_loads_bit_for_bit_as_its_source(trained, tmp_path):
    """The source file held the trunk rounded to fp16: the slim copy records that and rounds the
    rebuilt trunk the same way, so numbers measured on the source hold for the copy."""
    _, root = trained
    assert slim_main([str(root / "full"), str(tmp_path / "slim")]) == 0
    with safe_open(str(tmp_path / "slim" / "model.safetensors"), "pt") as f:
        assert f.metadata()["text_trunk_rounded_to"] == "float16"
    source, copy = load_model(root / "full"), load_model(tmp_path / "slim")
    mine, theirs = copy.model.state_dict(), source.model.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    assert "rounded to float16" in copy.card["text_trunk"]
    fresh = installed_trunk(copy.model.arch_cfg).transformer.state_dict()  # and not the exact trunk
    assert any(not torch.equal(v, fresh[k]) for k, v in hf_text_tower(copy.model.clip).transformer.state_dict().items())


def test_loading_rebuilds_the_trunk_without_hugging_faces_chatter(trained, capfd):
    _, root = trained
    capfd.readouterr()
    load_model(root / "slim")
    out, err = capfd.readouterr()
    assert "LOAD REPORT" not in out + err and "Loading weights" not in out + err
