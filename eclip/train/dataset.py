"""Training data over a dataset folder: main rows (all train rows) and expert rows (with gaze).

Every random choice is a pure function of (seed, stream, epoch, row) or (seed, step), so a
resumed or sharded run sees exactly the samples and augmentations of a straight run.
"""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from eclip.config import DataConfig
from eclip.data.manifest import read_manifest
from eclip.data.reports import report_text
from eclip.errors import ConfigError, ManifestError
from eclip.memo import BoundedCache
from eclip.model.label_local import label_targets
from eclip.model.preprocess import resize_centre_crop
from eclip.train.clahe import clahe

MAIN, EXPERT = 0, 1


def load_grey(path: Path) -> np.ndarray:
    return read_grey_u8(path).astype(np.float32) / 255.0


def read_grey_u8(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"), dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise ManifestError(f"image {path} could not be read ({exc}); check the dataset folder") from exc


def load_heatmap(path: Path, shape: tuple[int, int]) -> np.ndarray:
    try:
        with np.load(path) as npz:
            hm = np.asarray(npz["heatmap"], dtype=np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise ManifestError(f"heatmap {path} has no readable 'heatmap' array ({exc})") from exc
    if hm.shape != shape:  # contract says same HxW; tolerate by resizing
        t = torch.from_numpy(hm)[None, None]
        hm = F.interpolate(t, size=shape, mode="bilinear", align_corners=False)[0, 0].numpy()
    return hm


def random_resized_crop_box(rng: np.random.Generator, h: int, w: int, scale=(0.5, 1.0),
                            ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """(top, left, height, width) as torchvision's RandomResizedCrop picks it."""
    area = h * w
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    side = min(h, w)  # fallback: centre square
    return (h - side) // 2, (w - side) // 2, side, side


def crop_resize(x: torch.Tensor, box: tuple[int, int, int, int], size: int) -> torch.Tensor:
    top, left, ch, cw = box
    x = x[..., top:top + ch, left:left + cw]
    return F.interpolate(x[None], size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False)[0]


def random_heatmap(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Ablation: a smooth random 'gaze' map (4x4 noise upsampled)."""
    coarse = torch.from_numpy(rng.random((1, 1, 4, 4)).astype(np.float32))
    return F.interpolate(coarse, size=shape, mode="bicubic", align_corners=False)[0, 0].clamp_min(0).numpy()


def gaze_subset(rows: list[int], fraction: float, seed: int) -> list[int]:
    """The gaze rows kept for the expert stream: the first round(fraction * n) of a seeded
    permutation, so a smaller fraction's subset lies inside a larger one's and the curve's
    points differ only in how much gaze they see. Returned in row order."""
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"data.gaze_fraction must be in [0, 1], got {fraction}; "
                          "e.g. --set data.gaze_fraction=0.25")
    if fraction == 1.0:
        return list(rows)
    keep = np.random.default_rng([seed, 29]).permutation(len(rows))[:round(fraction * len(rows))]
    return sorted(rows[i] for i in keep)


class DecodedCache:
    """Decoded arrays kept in memory up to a byte budget, filled as rows are first read.

    Training revisits each image once per epoch, and PNG decoding is about half of an item's
    cost on CPU; the cached array is exactly what the decoder returned, so a run with the cache
    gives bit-identical batches (transforms never write into it; a test pins that). Each
    data-loader worker holds its own cache.
    """

    def __init__(self, budget_bytes: int):
        self.budget, self.used = budget_bytes, 0
        self._items: dict[tuple, np.ndarray] = {}

    def get(self, key: tuple, load: Callable[[], np.ndarray]) -> np.ndarray:
        hit = self._items.get(key)
        if hit is not None:
            return hit
        value = load()
        if self.used + value.nbytes <= self.budget:  # full: later rows are simply decoded each time
            self._items[key], self.used = value, self.used + value.nbytes
        return value


class TrainDataset(torch.utils.data.Dataset):
    """Item key = (stream, row, epoch); returns image [1,S,S] normalised grey (Collate makes
    it RGB once per batch), heatmap [1,S,S] or None, text."""

    def __init__(self, root: str | Path, cfg: DataConfig, image_size: int, seed: int = 0,
                 random_heatmaps: bool = False, train: bool = True, main_heatmaps: bool = False,
                 labels: bool = False):
        self.root, self.cfg, self.size, self.seed = Path(root), cfg, image_size, seed
        self.random_heatmaps, self.train = random_heatmaps, train
        self.main_heatmaps = main_heatmaps  # the gaze prior on every step wants main rows' gaze too
        df = read_manifest(self.root)
        df = df[df["split"] == cfg.train_split].reset_index(drop=True)
        if df.empty:
            raise ManifestError(f"{self.root}/manifest.csv has no rows with split == "
                                f"{cfg.train_split!r}; set data.train_split or rebuild the dataset")
        self.images = df["image_path"].tolist()
        self.gaze = df["gaze_path"].tolist()
        self.texts = [report_text(f, i) for f, i in zip(df["findings"], df["impression"])]
        self.expert_rows = gaze_subset([i for i, g in enumerate(self.gaze) if g], cfg.gaze_fraction, cfg.gaze_seed)
        self.cache = DecodedCache(int(cfg.cache_mb * 2 ** 20))
        self.labels = label_targets(df) if labels else None  # the label-grounded local loss's

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, int, int]) -> dict:
        stream, row, epoch = key
        rng = np.random.default_rng([self.seed, 11, stream, epoch, row])
        grey = self.cache.get(("image", row), lambda: read_grey_u8(self.root / self.images[row]))
        img = grey.astype(np.float32) / 255.0
        hm = None
        if stream == EXPERT or (self.main_heatmaps and self.gaze[row]):
            hm = (random_heatmap(rng, img.shape) if self.random_heatmaps else self.cache.get(
                ("heatmap", row), lambda: load_heatmap(self.root / self.gaze[row], img.shape)))
        image, heat = self.transform(img, hm, rng)
        item = {"image": image, "heatmap": heat, "text": self.texts[row], "stream": stream}
        if self.labels is not None:
            item["labels"] = torch.from_numpy(self.labels[row])
        return item

    def transform(self, img: np.ndarray, hm: np.ndarray | None, rng: np.random.Generator):
        x = torch.from_numpy(img)[None]
        if not self.train:
            heat = None if hm is None else resize_centre_crop(torch.from_numpy(hm)[None], self.size)
            return self.normalise(resize_centre_crop(x, self.size)), heat
        box = random_resized_crop_box(rng, *img.shape, scale=(self.cfg.crop_scale_min, self.cfg.crop_scale_max))
        x = crop_resize(x, box, self.size)  # the SAME box for image and heatmap
        heat = None if hm is None else crop_resize(torch.from_numpy(hm)[None], box, self.size)
        if rng.random() < self.cfg.clahe_p:
            x = torch.from_numpy(clahe(x[0].numpy()))[None]
        return self.normalise(x.clamp(0, 1)), heat

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.cfg.mean) / self.cfg.std


class Collate:
    """Stack a step's items into main / expert tensors; tokenises each distinct report once
    (BPE tokenising is a noticeable share of a small model's step on CPU)."""

    def __init__(self, tokenizer: Callable[[list[str]], torch.Tensor], cache_size: int = 200_000):
        self.tokenizer = tokenizer
        self._cache = BoundedCache(cache_size, "report tokens")

    def tokens(self, texts: list[str]) -> torch.Tensor:
        return torch.stack(self._cache.get_many(texts, lambda todo: list(self.tokenizer(todo))))

    def __call__(self, items: list[dict]) -> dict:
        main = [it for it in items if it["stream"] == MAIN]
        expert = [it for it in items if it["stream"] == EXPERT]
        batch = {"images": _rgb(torch.stack([it["image"] for it in main])),
                 "tokens": self.tokens([it["text"] for it in main])}
        heats = [it["heatmap"] for it in main]
        some = next((h for h in heats if h is not None), None)
        if some is not None:  # a row without gaze gets all zeros: the prior skips it
            batch["heatmaps"] = torch.stack([torch.zeros_like(some) if h is None else h for h in heats])
        if "labels" in main[0]:
            batch["labels"] = torch.stack([it["labels"] for it in main])
        if expert:
            batch["expert_images"] = _rgb(torch.stack([it["image"] for it in expert]))
            batch["expert_heatmaps"] = torch.stack([it["heatmap"] for it in expert])
            batch["expert_tokens"] = self.tokens([it["text"] for it in expert])
        return batch


def worker_init(worker_id: int) -> None:
    """A data-loader worker leaves the run's process group, so a stop meant for the run
    (the app's killpg SIGTERM, Ctrl-C to a terminal's foreground group) reaches only the
    trainer, which saves and then shuts its workers down itself. Before this, such a signal
    killed the worker too and the trainer died with "DataLoader worker ... killed by signal"
    without saving. Signals sent to the worker alone still work as torch intends: its
    SIGTERM handler exits quietly when the parent sends it, SIGKILL is SIGKILL, and its
    watchdog ends the worker within 5 s of the parent's death. SIGTTOU is ignored because a
    worker is now a background group of the terminal: with ``stty tostop`` a warning it
    printed would otherwise stop it and stall the trainer."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)


def _rgb(grey: torch.Tensor) -> torch.Tensor:
    """[B,1,S,S] -> [B,3,S,S]. Once per batch: per item, small multi-threaded copies cost
    more in thread wake-ups than in work."""
    return grey.repeat(1, 3, 1, 1)


class StepSampler:
    """Yields, per step, the dataset keys of this rank's share of the global batch.

    Main stream: global positions [s*B, (s+1)*B) over per-epoch permutations of all rows.
    Expert stream: the k-th expert batch covers positions [k*E, (k+1)*E) of the gaze rows;
    ``use_expert(step)`` is a pure function, so the sampler can start at any step.
    """

    def __init__(self, *, n_rows: int, expert_rows: list[int], batch: int, expert_batch: int,
                 seed: int, start_step: int, total_steps: int, use_expert: Callable[[int], bool],
                 rank: int = 0, world_size: int = 1):
        # keyword-only: ten parameters, several of them ints, are easy to pass in the wrong order
        if batch % world_size or expert_batch % world_size:
            raise ConfigError(f"train.batch_size {batch} and its expert batch {expert_batch} must be "
                              f"divisible by the number of processes {world_size}")
        self.n, self.expert_rows = n_rows, expert_rows
        self.B, self.E, self.seed = batch, expert_batch, seed
        self.start, self.total, self.use_expert = start_step, total_steps, use_expert
        self.rank, self.world = rank, world_size
        self._perms: dict[tuple[int, int], np.ndarray] = {}

    def __len__(self) -> int:
        return self.total - self.start

    def _perm(self, stream: int, epoch: int, n: int) -> np.ndarray:
        key = (stream, epoch)
        if key not in self._perms:
            if len(self._perms) > 8:
                self._perms.clear()
            self._perms[key] = np.random.default_rng([self.seed, 7, stream, epoch]).permutation(n)
        return self._perms[key]

    def _keys(self, stream: int, rows: list[int] | None, first: int, count: int) -> list[tuple]:
        n = self.n if rows is None else len(rows)
        keys = []
        for pos in range(first, first + count):
            epoch, off = divmod(pos, n)
            idx = int(self._perm(stream, epoch, n)[off])
            keys.append((stream, idx if rows is None else rows[idx], epoch))
        return keys

    def expert_batches_before(self, step: int) -> int:
        return sum(1 for s in range(step) if self.use_expert(s))

    def __iter__(self) -> Iterator[list[tuple]]:
        b, e = self.B // self.world, self.E // self.world
        k = self.expert_batches_before(self.start)
        for step in range(self.start, self.total):
            keys = self._keys(MAIN, None, step * self.B + self.rank * b, b)
            if self.use_expert(step):
                if not self.expert_rows:
                    raise ManifestError("an expert batch was requested but the training split has "
                                        "no rows with gaze_path; set method.expert=false")
                keys += self._keys(EXPERT, self.expert_rows, k * self.E + self.rank * e, e)
                k += 1
            yield keys

    def epoch_of(self, step: int) -> int:
        return (step * self.B) // max(self.n, 1)
