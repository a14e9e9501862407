import os
import subprocess
import sys

import numpy as np
import pandas as pd
import psutil
import pytest
import torch
from PIL import Image

from eclip.config import DataConfig
from eclip.data.manifest import LABELS, save_array_npz, write_manifest
from eclip.data.reports import report_text
from eclip.train.dataset import EXPERT, MAIN, Collate, StepSampler, TrainDataset, worker_init

from .helpers import REPO, env
from floats import assert_close


@pytest.fixture(scope="module")
def aligned_dataset(tmp_path_factory):
    """Rows whose heatmap equals the image pixels, so a shared crop keeps them equal."""
    root = tmp_path_factory.mktemp("aligned")
    (root / "images").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        img = np.zeros((48, 64), np.uint8)
        y, x = rng.integers(5, 35), rng.integers(5, 50)
        img[y:y + 10, x:x + 12] = 255
        img[:, :3] = 128
        Image.fromarray(img, mode="L").save(root / "images" / f"r{i}.png")
        save_array_npz(root / f"g{i}.npz", heatmap=(img / 255.0).astype(np.float16))
        rows.append({"id": f"r{i}", "image_path": f"images/r{i}.png", "findings": "" if i == 1 else f"finding {i}",
                     "impression": f"impression {i}", "split": "train", "view": "PA",
                     "gaze_path": f"g{i}.npz" if i % 2 == 0 else "", "patient_key": f"p{i}",
                     **{lab: np.nan for lab in LABELS}})
    write_manifest(pd.DataFrame(rows), root)
    return root


def test_same_crop_for_image_and_heatmap(aligned_dataset):
    ds = TrainDataset(aligned_dataset, DataConfig(clahe_p=0.0), image_size=32, seed=1)
    assert ds.expert_rows == [0, 2]
    for epoch in range(5):
        item = ds[(EXPERT, 0, epoch)]
        grey = item["image"][0] * 0.26 + 0.58
        assert item["image"].shape == (1, 32, 32) and item["heatmap"].shape == (1, 32, 32)
        assert_close(grey, item["heatmap"][0], atol=2e-3)


def test_augmentation_is_seeded_per_epoch_and_row(aligned_dataset):
    ds = TrainDataset(aligned_dataset, DataConfig(), image_size=32, seed=1)
    a, b = ds[(MAIN, 2, 0)], ds[(MAIN, 2, 0)]
    assert torch.equal(a["image"], b["image"]) and a["heatmap"] is None
    assert not torch.equal(a["image"], ds[(MAIN, 2, 1)]["image"])
    assert not torch.equal(a["image"], TrainDataset(aligned_dataset, DataConfig(), 32, seed=2)[(MAIN, 2, 0)]["image"])


def test_eval_transform_is_resize_centre_crop(aligned_dataset):
    ds = TrainDataset(aligned_dataset, DataConfig(), image_size=32, train=False)
    a = ds[(EXPERT, 0, 0)]
    assert torch.equal(a["image"], ds[(EXPERT, 0, 9)]["image"])
    from eclip.model.preprocess import preprocess
    from eclip.train.dataset import load_grey
    assert_close(a["image"].expand(3, -1, -1), preprocess(load_grey(aligned_dataset / "images/r0.png"), 32))


def test_text_is_findings_with_impression_fallback(aligned_dataset):
    ds = TrainDataset(aligned_dataset, DataConfig(), image_size=32)
    assert ds.texts[0] == "finding 0" and ds.texts[1] == "impression 1"
    assert report_text("  ", "imp") == "imp"


def test_random_heatmaps_ablation(aligned_dataset):
    ds = TrainDataset(aligned_dataset, DataConfig(clahe_p=0.0), 32, seed=1, random_heatmaps=True)
    item = ds[(EXPERT, 0, 0)]
    grey = item["image"][0] * 0.26 + 0.58
    assert not torch.allclose(grey, item["heatmap"][0], atol=0.05)


def test_collate_splits_streams(aligned_dataset):
    from open_clip.tokenizer import SimpleTokenizer

    ds = TrainDataset(aligned_dataset, DataConfig(), image_size=32)
    batch = Collate(SimpleTokenizer(context_length=16))([ds[(MAIN, 1, 0)], ds[(MAIN, 3, 0)], ds[(EXPERT, 2, 0)]])
    assert batch["images"].shape == (2, 3, 32, 32) and batch["tokens"].shape == (2, 16)
    assert torch.equal(batch["images"][:, 0], batch["images"][:, 2])  # grey -> RGB
    assert batch["expert_images"].shape == (1, 3, 32, 32) and batch["expert_heatmaps"].shape == (1, 1, 32, 32)
    assert "heatmaps" not in batch  # main rows carry gaze only for the every-step gaze prior


def test_collate_gives_main_rows_gaze_for_the_every_step_prior(aligned_dataset):
    from open_clip.tokenizer import SimpleTokenizer

    ds = TrainDataset(aligned_dataset, DataConfig(), image_size=32, main_heatmaps=True)
    batch = Collate(SimpleTokenizer(context_length=16))([ds[(MAIN, 0, 0)], ds[(MAIN, 1, 0)]])
    assert batch["heatmaps"].shape == (2, 1, 32, 32)
    assert float(batch["heatmaps"][0].sum()) > 0 and float(batch["heatmaps"][1].abs().sum()) == 0  # row 1: no gaze


def _sampler(start=0, rank=0, world=1, total=12):
    use = lambda s: s % 3 == 1  # noqa: E731
    return StepSampler(n_rows=10, expert_rows=[0, 2, 4, 6], batch=4, expert_batch=2, seed=5,
                       start_step=start, total_steps=total, use_expert=use, rank=rank, world_size=world)


def test_sampler_covers_epochs_and_resumes_mid_run():
    full = list(_sampler())
    assert len(full) == 12 and all(len(k) == (6 if s % 3 == 1 else 4) for s, k in enumerate(full))
    mains = [k for step in full for k in step if k[0] == MAIN]
    first_epoch = [row for stream, row, ep in mains if ep == 0]
    assert sorted(first_epoch) == list(range(10))  # every row once per epoch
    experts = [row for step in full for (stream, row, ep) in step if stream == EXPERT]
    assert set(experts) <= {0, 2, 4, 6}
    assert list(_sampler(start=7)) == full[7:]


def test_sampler_ranks_partition_the_global_batch():
    full = list(_sampler())
    r0, r1 = list(_sampler(rank=0, world=2)), list(_sampler(rank=1, world=2))
    for s, keys in enumerate(full):
        assert sorted(r0[s] + r1[s]) == sorted(keys)
        assert not set(r0[s]) & set(r1[s]) or len(set(keys)) < len(keys)


def test_collate_token_cache_matches_tokenizer():
    from open_clip.tokenizer import SimpleTokenizer

    tok = SimpleTokenizer(context_length=16)
    col = Collate(tok, cache_size=2)
    texts = ["a b", "c", "a b", "d e f"]
    assert torch.equal(col.tokens(texts), tok(texts))
    assert torch.equal(col.tokens(["c", "zz"]), tok(["c", "zz"]))


def test_decoded_cache_gives_identical_items_and_stays_unchanged(aligned_dataset):
    """The cache only skips decoding: items equal an uncached dataset's, epoch after epoch,
    and no transform writes into the cached arrays."""
    cached = TrainDataset(aligned_dataset, DataConfig(clahe_p=0.5), image_size=32, seed=3)
    plain = TrainDataset(aligned_dataset, DataConfig(clahe_p=0.5, cache_mb=0), image_size=32, seed=3)
    keys = [(EXPERT, 0, e) for e in range(4)] + [(MAIN, r, e) for r in range(4) for e in range(3)]
    for key in keys:
        a, b = cached[key], plain[key]
        assert torch.equal(a["image"], b["image"])
        assert (a["heatmap"] is None) == (b["heatmap"] is None)
        if a["heatmap"] is not None:
            assert torch.equal(a["heatmap"], b["heatmap"])
    assert plain.cache.used == 0 and len(cached.cache._items) == 5  # 4 images + 1 heatmap
    snapshot = {k: v.copy() for k, v in cached.cache._items.items()}
    for key in keys:
        cached[key]
    assert all(np.array_equal(snapshot[k], v) for k, v in cached.cache._items.items())


def test_decoded_cache_respects_its_budget(aligned_dataset):
    one_image = 48 * 64  # uint8 bytes
    ds = TrainDataset(aligned_dataset, DataConfig(cache_mb=2.5 * one_image / 2 ** 20), image_size=32)
    for r in range(4):
        ds[(MAIN, r, 0)]
    assert len(ds.cache._items) == 2 and ds.cache.used == 2 * one_image
    assert torch.equal(ds[(MAIN, 3, 1)]["image"],  # rows past the budget are decoded each time
                       TrainDataset(aligned_dataset, DataConfig(cache_mb=0), image_size=32)[(MAIN, 3, 1)]["image"])


def _newest_child() -> int:
    """The loader's worker: the child this test process gained when the iterator started."""
    kids = psutil.Process().children()
    assert kids, "the loader started no worker process"
    return max(kids, key=lambda p: p.create_time()).pid


def test_loader_workers_leave_the_run_process_group():
    """A stop sent to the run's process group (the app's killpg, Ctrl-C in a terminal) must
    reach the trainer only: a worker that got it died and took the trainer down unsaved."""
    loader = torch.utils.data.DataLoader(range(8), batch_size=2, num_workers=1, worker_init_fn=worker_init)
    it = iter(loader)
    assert next(it).tolist() == [0, 1]
    worker = _newest_child()
    assert os.getpgid(worker) == worker != os.getpgid(0)  # its own group, outside ours
    del it


_ORPHAN = """
import time, psutil, torch
from eclip.train.dataset import worker_init
it = iter(torch.utils.data.DataLoader(range(10**6), num_workers=1, worker_init_fn=worker_init))
next(it)
print(psutil.Process().children()[0].pid, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_worker_outside_the_group_still_dies_with_its_trainer():
    """Out of the group, a worker is not killed with it: torch's watchdog (the worker checks
    every 5 s that its parent lives) must end it when the trainer is SIGKILLed."""
    proc = subprocess.Popen([sys.executable, "-c", _ORPHAN], cwd=REPO, env=env(), stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    worker = None
    try:
        worker = psutil.Process(int(proc.stdout.readline()))
        assert os.getpgid(worker.pid) != os.getpgid(proc.pid)
        proc.kill()
        proc.wait(10)
        worker.wait(timeout=20)  # raises TimeoutExpired if it outlived its parent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if worker is not None and worker.is_running():
            worker.kill()


def test_collate_gives_main_rows_labels_for_the_local_loss(aligned_dataset):
    from open_clip.tokenizer import SimpleTokenizer

    from eclip.model.label_local import LOCAL_LABELS

    ds = TrainDataset(aligned_dataset, DataConfig(), image_size=32, labels=True)
    batch = Collate(SimpleTokenizer(context_length=16))([ds[(MAIN, 0, 0)], ds[(MAIN, 1, 0)], ds[(EXPERT, 2, 0)]])
    assert batch["labels"].shape == (2, len(LOCAL_LABELS))  # main rows only
    assert bool(torch.isnan(batch["labels"]).all())  # these rows carry no label: left out, not negatives
    assert "labels" not in Collate(SimpleTokenizer(context_length=16))([TrainDataset(
        aligned_dataset, DataConfig(), image_size=32)[(MAIN, 0, 0)]])
