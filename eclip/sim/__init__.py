"""The simulated demo corpus: real Open-I report text, simulated radiographs and gaze.

``build_demo(out, n=N, seed=S, gaze_fraction=0.25, size=256, workers=None)`` (CLI:
``python -m eclip.data build-demo --n N --seed S --out DIR``) writes a dataset folder under
the manifest contract. Everything image- or gaze-related in it is SIMULATED (column
``simulated`` = 1, ``source`` = demo); the report text and MeSH terms are real.

Pipeline (one module each): ``reports_pool`` picks label-balanced Open-I reports from the
NLMCXR tarball inside torchxrayvision; ``mesh`` turns their MeSH majors into findings
(laterality/severity/zone from the modifiers) and anatomy changes; ``phantom`` projects a
3-D-ish chest phantom and makes the film (scatter, quantum noise, processing);
``findings`` draws each finding and returns its mask; ``scanpath`` simulates a reading;
``build`` writes the files in parallel, byte-for-byte reproducibly.

Drawn: cardiomegaly (CTR > 0.5), pleural effusion / blunted costophrenic angle, atelectasis,
opacity / airspace disease / infiltrate / density, consolidation / pneumonia (air
bronchograms), nodule / mass, calcified granuloma / granulomatous disease, pulmonary edema /
congestion, pneumothorax / hydropneumothorax, and devices (catheters -> central line,
inserted tube -> ET or enteric tube, implanted device -> pacemaker, mediastinal surgical
instruments / sutures -> sternotomy wires, other instruments / stents -> clips). Hypo- and
hyperinflation, emphysema/COPD, elevated or flattened hemidiaphragms, scoliosis and a
tortuous aorta change the anatomy. Other terms (degenerative spine, calcinosis, cicatrix,
fractures, ...) are not drawn: they are listed per case in the ``not_rendered`` column and
the case is drawn with the findings it does have (a normal-looking film if none).

Per case: ``masks/<id>.npz`` holds one bool mask per CheXpert label that was drawn (keys =
label names; e.g. a consolidation fills both "Consolidation" and "Lung Opacity"); manifest
labels are ``mesh_to_labels`` of the MeSH terms plus 1 for every drawn label. Difficulty
knobs: ``Knobs`` (severity, noise, scatter, variation) and ``ReaderKnobs`` (miss, dwell,
noise_deg, skip_region).
"""

from .build import build_demo
from .phantom import Knobs
from .scanpath import ReaderKnobs

__all__ = ["build_demo", "Knobs", "ReaderKnobs"]
