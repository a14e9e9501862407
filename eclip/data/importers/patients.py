"""Patient keys and train/validate/test splits: values that must never change for a patient.

Splits are a seeded hash of the *source* patient id (or of the image id, when a table has no
patient column), so the same table imported twice with the same ``--seed`` gives the same
split, into any folder, by anyone, and all images of one patient land in one split (no
patient leaks from training into evaluation). A split is one of three values: it says
nothing that would recover the id.

Patient keys (the manifest's ``patient_key``) are a salted hash of the same id. They are
pseudonymous, not anonymous: whoever holds the salt can recompute the key of a known id, and
an unsalted hash of an 8-digit id is reversed by trying every id. So the salt is a secret of
the person importing, kept outside every dataset folder (``settings().patient_salt_file``,
``~/.config/eclip/patient_salt`` by default, readable by its owner only), and a copy of a
dataset folder carries no way back to the ids. Folders imported before the salt moved keep
theirs in ``<out>/.import/patient_salt``: it is still read there (a returning patient keeps
their key), and ``info`` warns that the folder must not be shared with it.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from eclip.data.importers.layout import SALT_FILE, state_dir
from eclip.errors import ConfigError
from eclip.io import sha256_text
from eclip.settings import settings

log = logging.getLogger(__name__)

SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def legacy_salt_file(out: str | os.PathLike) -> Path:
    """Where imports before the salt moved out of dataset folders kept it."""
    return state_dir(out) / SALT_FILE


class PatientHasher:
    """Salted, truncated sha256 of a source patient id (see the module docstring).

    Raw ids (MIMIC subject_id, hospital MRNs) are identifiers under the data-use agreements,
    so they never enter a manifest. The salt comes from ``salt`` when given, else from a
    folder imported before the salt moved out (kept for that folder's continuity), else from
    the per-user salt file, which is created (mode 0600) on the first import that needs it.
    Nothing is ever written into the dataset folder.
    """

    def __init__(self, out: str | os.PathLike, salt: str | None = None,
                 salt_file: str | os.PathLike | None = None):
        self.legacy = False
        self.path: Path | None = None
        self._salt = salt
        legacy = legacy_salt_file(out)
        if salt is None and legacy.is_file():
            self._salt, self.path, self.legacy = legacy.read_text().strip(), legacy, True
            log.warning("%s keeps its patient salt inside the folder (%s): do not share the folder "
                        "with that file (see docs/data.md, 'Patient keys and splits')", out, legacy)
        elif salt is None:
            self.path = Path(salt_file) if salt_file is not None else settings().patient_salt_file

    @property
    def salt(self) -> str:
        """The salt, read (or created) on first use: an import that stops before hashing
        any patient never creates one."""
        if self._salt is None:
            self._salt = user_salt(self.path)
        if not self._salt:
            raise ConfigError(f"The patient salt file {self.path} is empty: delete it to make a new "
                              "one (patients imported from now on get new keys).")
        return self._salt

    def __call__(self, patient_id: str) -> str:
        return "pk" + sha256_text(f"{self.salt}:{patient_id}", 16)


def user_salt(path: Path) -> str:
    """The salt in ``path``, created first (random, mode 0600) when there is none. Created
    exclusively, so two imports starting at once agree on one salt."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another import made it just now: read theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(16) + "\n")
            log.info("new patient salt written to %s: keep it private, and keep it to give a "
                     "returning patient the same key", path)
    return path.read_text().strip()


def hashed_split(key: str, seed: int = 0, fractions=SPLIT_FRACTIONS) -> str:
    """Deterministic train/validate/test assignment from a key: the *source* patient id (or
    an image's own id), never a salted patient key, so that it does not depend on who
    imports or where. Changing this hash would reshuffle every dataset folder."""
    h = int(sha256_text(f"{seed}:{key}", 12), 16) / 16**12
    if h < fractions[0]:
        return "train"
    return "validate" if h < fractions[0] + fractions[1] else "test"
