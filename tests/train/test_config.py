import pytest

from eclip.config import Config, config_from_json, load_config, to_dict
from eclip.errors import ConfigError


def test_defaults_are_the_reference_values():
    c = Config()
    assert (c.train.lr, c.train.weight_decay, c.train.beta1, c.train.beta2) == (1e-4, 1e-3, 0.9, 0.98)
    assert (c.train.processor_lr_mult, c.train.warmup_frac, c.train.grad_clip, c.train.batch_size) == (2, 0.1, 1.0, 64)
    assert (c.method.mixup_alpha, c.method.priming_weight, c.method.temperature_init) == (0.2, 0.3, 0.07)
    assert (c.method.temperature_min, c.method.temperature_max) == (0.01, 2.0)
    assert (c.model.processor.patch_size, c.model.processor.width, c.model.processor.heads) == (16, 256, 8)
    assert (c.data.mean, c.data.std, c.data.clahe_p, c.data.crop_scale_min) == (0.58, 0.26, 0.3, 0.5)
    cur = c.method.curriculum
    assert (cur.cold_end, cur.peak_at, cur.decay_end, cur.p_start, cur.p_peak, cur.p_floor) == \
        (0.1, 0.4, 0.8, 0.05, 0.5, 0.05)


def test_toml_and_set_overrides_with_coercion(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[train]\nsteps = 50\nlr = 3e-4\n[model.processor]\nwidth = 64\n[method]\nmixup = false\n')
    c = load_config(f, ["train.steps=20", "method.mixup=true", "train.lr=1e-3", "model.arch=RN50",
                        "method.curriculum.p_floor=0.1", "train.batch_size=1e2"])
    assert c.train.steps == 20 and isinstance(c.train.steps, int)
    assert c.method.mixup is True and c.train.lr == 1e-3 and c.model.arch == "RN50"
    assert c.model.processor.width == 64 and c.method.curriculum.p_floor == 0.1
    assert c.train.batch_size == 100
    assert config_from_json(to_dict(c)) == c


@pytest.mark.parametrize("item,match", [
    ("train.stepz=3", "unknown key 'stepz'"),
    ("nope.x=1", "unknown key 'nope'"),
    ("train.steps=abc", "cannot use 'abc' as int"),
    ("method.mixup=maybe", "as bool"),
    ("train=3", "is a section"),
    ("train.steps.x=3", "is not a section"),
    ("train.steps", "KEY=VALUE"),
])
def test_bad_overrides(item, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [item])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    unknown = tmp_path / "u.toml"
    unknown.write_text("[train]\nepochs = 3\n")
    with pytest.raises(ConfigError, match="train.epochs"):
        load_config(unknown)


@pytest.mark.parametrize("pair", ["demo", "scratch"])
def test_paired_configs_differ_only_in_the_expert_switch(pair):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    eclip_cfg, clip_cfg = load_config(root / f"{pair}-eclip.toml"), load_config(root / f"{pair}-clip.toml")
    assert eclip_cfg.method.expert and not clip_cfg.method.expert
    clip_cfg.method.expert = True
    assert clip_cfg == eclip_cfg
    from eclip.model.factory import resolve_arch
    assert resolve_arch(eclip_cfg.model.arch)["vision_cfg"]["image_size"] % eclip_cfg.model.processor.patch_size == 0
