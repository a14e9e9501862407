"""Pretrained weights on request: resolve ``model.pretrained`` / ``model.text_model`` to local
files, downloading into the standard Hugging Face cache only when a config names a hub model
and the machine is online.

Offline (``HF_HUB_OFFLINE=1``, or the hub's host does not answer a TCP connect within
``CONNECT_TIMEOUT_S``) a model that is not already cached fails at once with a ModelError
that names it and the command that pre-fetches it. The connect check comes first because
huggingface_hub's own look-ups retry: unreachable, they took ~45 s to fail here.

Weights are read as safetensors; a ``.bin``/``.pt`` file is read only through
``torch.load(weights_only=True)`` (tensors and plain containers, never arbitrary objects)
and converted once to safetensors, next to it or in ``<HF cache>/eclip-safetensors/``.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from eclip.errors import ModelError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.0
HF_HUB_PREFIX, TIMM_PREFIX = "hf-hub:", "timm:"
OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
TIMM_FILES = ("model.safetensors", "pytorch_model.bin")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth")
# what a text tower needs from a repo: config, tokenizer, weights (never TF/Flax/ONNX copies);
# pytorch_model.bin is fetched only when the repo has no safetensors (e.g. Bio_ClinicalBERT)
TEXT_PATTERNS = ["*.json", "*.txt", "*.model", "model.safetensors"]
_TRUE = ("1", "true", "yes", "on")


# -- where and whether ------------------------------------------------------------------
def cache_dir() -> Path:
    """The standard Hugging Face hub cache, read from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    return Path(home) / "hub"


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def offline_reason() -> str:
    """Why the hub cannot be used now ('' when it can)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return f"{var}=1 is set"
    url = urlparse(endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        return f"{url.hostname}:{port} is not reachable ({exc.__class__.__name__}: {exc})"
    return ""


def prefetch_command(repo: str, files: tuple[str, ...] = ()) -> str:
    """The shell command (CLI, and the Python one-liner) that puts ``repo`` in the cache."""
    if files:
        call = f"from huggingface_hub import hf_hub_download; hf_hub_download('{repo}', '{files[0]}')"
        return f"hf download {repo} {files[0]}` (or `python -c \"{call}\""
    call = f"from huggingface_hub import snapshot_download; snapshot_download('{repo}')"
    return f"hf download {repo}` (or `python -c \"{call}\""


def _not_available(what: str, repo: str, files: tuple[str, ...], reason: str) -> ModelError:
    return ModelError(
        f"{what} needs the Hugging Face model {repo!r}, which is not in the local cache "
        f"({cache_dir()}) and cannot be downloaded now: {reason}. Pre-fetch it on a machine "
        f"online (same HF_HOME / HF_HUB_CACHE): `{prefetch_command(repo, files)}`), then run again.")


# -- files and folders from the hub ----------------------------------------------------------
def hub_file(repo: str, files: tuple[str, ...], what: str) -> Path:
    """The first of ``files`` in ``repo``: from the cache, else downloaded (progress bar)."""
    from huggingface_hub import try_to_load_from_cache

    for name in files:
        hit = try_to_load_from_cache(repo, name, cache_dir=str(cache_dir()))
        if isinstance(hit, str):
            return Path(hit)
    reason = offline_reason()
    if reason:
        raise _not_available(what, repo, files, reason)
    return _download_file(repo, files, what)


def _download_file(repo: str, files: tuple[str, ...], what: str) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    for name in files:
        try:
            log.info("downloading %s/%s into %s", repo, name, cache_dir())
            return Path(hf_hub_download(repo, name, cache_dir=str(cache_dir())))
        except EntryNotFoundError:
            continue
        except (HfHubHTTPError, OSError) as exc:
            raise ModelError(f"{what}: downloading {repo}/{name} failed ({exc}); check the name "
                             "and your network, or pre-fetch it with `hf download`") from exc
    raise ModelError(f"{what}: {repo} has none of {list(files)}; is it an open_clip / timm model?")


def hub_folder(repo: str, what: str) -> Path:
    """A snapshot folder of ``repo`` (config, tokenizer, weights): cached, else downloaded."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo, cache_dir=str(cache_dir()), local_files_only=True,
                                      allow_patterns=TEXT_PATTERNS))
    except LocalEntryNotFoundError:
        pass
    reason = offline_reason()
    if reason:
        raise _not_available(what, repo, (), reason)
    try:
        log.info("downloading %s into %s", repo, cache_dir())
        folder = Path(snapshot_download(repo, cache_dir=str(cache_dir()), allow_patterns=TEXT_PATTERNS))
        if not any(folder.glob("*.safetensors")):  # lands in the same snapshot folder
            _download_file(repo, ("pytorch_model.bin",), what)
        return folder
    except (HfHubHTTPError, OSError) as exc:
        raise ModelError(f"{what}: downloading {repo} failed ({exc}); check the model name "
                         "(ORG/NAME on huggingface.co) and your network") from exc


def looks_like_repo(name: str) -> bool:
    """'ORG/NAME' with no path-like parts (a local folder wins when one exists)."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~"))


@functools.lru_cache(maxsize=16)
def text_model_folder(name: str) -> str:
    """A local folder for a text tower named by folder or hub id, with safetensors weights.
    Cached per process: create_clip and get_tokenizer both ask, the hub is asked once."""
    path = Path(name).expanduser()
    if not path.is_dir():
        if not looks_like_repo(name):
            raise ModelError(f"text model {name!r} is neither a local folder nor a Hugging Face "
                             "id ORG/NAME (e.g. emilyalsentzer/Bio_ClinicalBERT)")
        path = hub_folder(name, "the text tower")
    return str(safetensors_folder(path))


# -- pickle-free weights ------------------------------------------------------------------
def load_pickled_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a .bin/.pt file, through weights_only unpickling (no arbitrary objects)."""
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for anything beyond tensors and containers
        raise ModelError(f"{path} could not be read with torch.load(weights_only=True) ({exc}); "
                         "only plain tensor state dicts are accepted: convert the file to "
                         "safetensors where it was made") from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ModelError(f"{path} does not hold a flat name -> tensor state dict")
    return {k: v.contiguous().clone() for k, v in obj.items()}  # clone: safetensors refuses shared storage


def convert_to_safetensors(path: Path, target: Path) -> Path:
    """Write ``path``'s tensors to ``target`` (atomic rename) unless already there."""
    from safetensors.torch import save_file

    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    save_file(load_pickled_tensors(path), str(tmp), metadata={"format": "pt", "converted_from": path.name})
    os.replace(tmp, target)
    log.info("converted %s to %s (once; later runs read the safetensors file)", path, target)
    return target


def _converted_location(path: Path) -> Path:
    """Next to the file when that folder is writable (not inside the hub cache), else the cache."""
    resolved = path.resolve()
    inside_cache = cache_dir().resolve() in resolved.parents
    if not inside_cache and os.access(path.parent, os.W_OK):
        return path.with_suffix(".safetensors")
    stem = "--".join(resolved.parts[-4:]).replace(".", "_")
    return cache_dir() / "eclip-safetensors" / f"{stem}.safetensors"


def safetensors_file(path: Path) -> Path:
    """``path`` itself when safetensors, else its one-time safetensors conversion."""
    if path.suffix == ".safetensors":
        return path
    if path.suffix not in PICKLE_SUFFIXES:
        raise ModelError(f"weights file {path}: expected .safetensors (or .bin/.pt/.pth, which "
                         "are converted once through torch.load(weights_only=True))")
    return convert_to_safetensors(path, _converted_location(path))


def safetensors_folder(folder: Path) -> Path:
    """A Hugging Face model folder with model.safetensors: ``folder`` itself, or a sibling copy
    in the cache whose pytorch_model.bin was converted once (config/tokenizer files copied)."""
    if any(folder.glob("*.safetensors")) or not (folder / "pytorch_model.bin").is_file():
        return folder
    target = _converted_location(folder / "pytorch_model.bin").with_suffix("")
    if not (target / "model.safetensors").is_file():
        target.mkdir(parents=True, exist_ok=True)
        for item in folder.iterdir():
            if item.is_file() and item.suffix in (".json", ".txt", ".model"):
                shutil.copyfile(item, target / item.name)
        convert_to_safetensors(folder / "pytorch_model.bin", target / "model.safetensors")
    return target


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    path = safetensors_file(path)
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise ModelError(f"{path} is not a readable safetensors file ({exc})") from exc


# -- model.pretrained -------------------------------------------------------------------------
@dataclass(frozen=True)
class Pretrained:
    """Where initial weights come from. kind: 'file' (open_clip state dict) or 'timm'
    (image trunk only). ``source`` is what the user wrote, for messages."""

    kind: str
    source: str
    repo: str = ""
    files: tuple[str, ...] = ()
    path: str = ""


def parse_pretrained(spec: str, arch: str) -> Pretrained | None:
    """Read ``model.pretrained`` without touching the network (see ModelConfig)."""
    spec = spec.strip()
    if not spec:
        return None
    if spec.startswith(HF_HUB_PREFIX):
        return Pretrained("file", spec, repo=spec[len(HF_HUB_PREFIX):].strip("/"), files=OPEN_CLIP_FILES)
    if spec.startswith(TIMM_PREFIX):
        name = spec[len(TIMM_PREFIX):]
        return Pretrained("timm", spec, repo=f"timm/{name}", files=TIMM_FILES)
    path = Path(spec).expanduser()
    if path.is_file():
        return Pretrained("file", spec, path=str(path))
    if path.suffix in PICKLE_SUFFIXES + (".safetensors",) or "/" in spec:
        raise ModelError(f"model.pretrained: file {spec} not found")
    return _open_clip_tag(spec, arch)


def _open_clip_tag(tag: str, arch: str) -> Pretrained:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise ModelError(f"model.pretrained={tag!r} is not an open_clip tag for {arch!r} "
                         f"(tags: {tags or 'none; use an open_clip architecture name'}); or give "
                         "hf-hub:ORG/NAME, timm:NAME or a local weights file")
    if not cfg.get("hf_hub"):
        raise ModelError(f"open_clip serves {arch}/{tag} from a URL, not the Hugging Face hub: "
                         f"download {cfg.get('url')} yourself and set model.pretrained to the file")
    parts = cfg["hf_hub"].strip("/").split("/")  # ORG/NAME[/SUBFOLDER]
    repo, sub = "/".join(parts[:2]), "/".join(parts[2:])
    files = tuple(f"{sub}/{f}" if sub else f for f in OPEN_CLIP_FILES)
    return Pretrained("file", tag, repo=repo, files=files)


def pretrained_path(p: Pretrained) -> Path:
    """The local weights file (downloading when online and named by the hub)."""
    if p.path:
        return Path(p.path)
    return hub_file(p.repo, p.files, f"model.pretrained={p.source!r}")
