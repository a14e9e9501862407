"""Label columns an evaluation set may carry beyond CheXpert's 14.

NIH ChestX-ray14 names six findings CheXpert has no column for; the cxr14-14x100 set stores
them as their own 1/0 columns so that a prompt set can name them as class labels.
"""

from __future__ import annotations

EXTRA_LABELS = ("Infiltration", "Mass", "Nodule", "Emphysema", "Fibrosis", "Pleural Thickening")
