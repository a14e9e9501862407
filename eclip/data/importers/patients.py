"""Patient keys and train/validate/test splits: values that must never change for a patient.

Both are hashes, so that they are reproducible without a lookup table: a patient keeps one
key across imports into the same folder, and all images of one patient land in one split
(no patient leaks from training into evaluation). Changing either hash would silently
reshuffle every existing dataset folder, so they live here, small and on their own.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from eclip.data.importers.layout import SALT_FILE, state_dir
from eclip.io import atomic_write_text, sha256_text


class PatientHasher:
    """Salted, truncated sha256 of a source patient id.

    Raw ids (MIMIC subject_id, hospital MRNs) are identifiers under the data-use
    agreements, so they never enter a manifest. An unsalted hash of an 8-digit id is
    reversible by enumerating all ids, so the salt is random per dataset folder, kept in
    ``<out>/.import/patient_salt`` (do not share it) and reused by later imports into the
    same folder so that one patient keeps one key.
    """

    def __init__(self, out: Path, salt: str | None = None):
        self.path = state_dir(out) / SALT_FILE
        if salt is not None:
            self.salt, self._new = salt, False
        elif self.path.is_file():
            self.salt, self._new = self.path.read_text().strip(), False
        else:
            self.salt, self._new = secrets.token_hex(16), True

    def __call__(self, patient_id: str) -> str:
        return "pk" + sha256_text(f"{self.salt}:{patient_id}", 16)

    def save(self) -> None:
        if self._new:
            atomic_write_text(self.path, self.salt + "\n")
            self._new = False


def hashed_split(key: str, seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> str:
    """Deterministic train/validate/test assignment from a key (patient-level when the key
    is a patient's)."""
    h = int(sha256_text(f"{seed}:{key}", 12), 16) / 16**12
    if h < fractions[0]:
        return "train"
    return "validate" if h < fractions[0] + fractions[1] else "test"
