"""Where things are: the files shipped inside the packages (prompt sets, the report prompt,
the tour...), and the folder that relative paths such as ``data/demo`` start from."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def package_file(package: str, *parts: str) -> Path:
    """A file or folder shipped inside ``package`` (its package data), found through
    importlib.resources so it is there wherever the package is installed. A Path, because
    callers glob folders and name files in messages: installed packages are unpacked on disk."""
    found = resources.files(package).joinpath(*parts)
    if not isinstance(found, Path):
        raise RuntimeError(f"{package} is not installed as files on disk (a zip?): reinstall it with pip")
    return found


def root() -> Path:
    """The source checkout these packages run from (``pip install -e .``, as `make setup`
    does: data/, checkpoints/ and runs/ sit beside them), else the current directory: an
    installed wheel lives in site-packages, no place for datasets or caches."""
    checkout = Path(__file__).resolve().parents[1]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


def shown_path(path: str | Path) -> str:
    """``path`` as results and cards name it: relative to the working directory when inside
    it (data/demo, not the absolute folder of the machine that measured it: results are
    committed and read elsewhere), else absolute. Relative to the working directory, not the
    checkout, so the same process can still open what it names."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())
