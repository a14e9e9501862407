"""The paper's evaluation sets, built from each dataset's own files into our manifest format.

``python -m eclip.data build-eval NAME --root SRC --out DIR``; every row has split ``test``,
``source`` = NAME and ``eval_class`` = the class it was drawn for, so
``python -m eclip.evaluate --data DIR --split test --prompts paper-...`` scores it.
Sampling is deterministic: within each class the candidates are ranked by
sha256(seed, set, class, image key) and the first N taken, so a rebuild gives the same images
whatever the row order of the source table (the published sets used an unseeded
``DataFrame.sample``, so their exact images cannot be reproduced; the rule can).

chexpert-5x200 (GLoRIA, Huang et al. 2021, ``preprocess_chexpert_5x200_data``; MedCLIP ships
the same convention)
    CheXpert ``train.csv`` (valid.csv holds only 234 images); frontal images only
    (``Frontal/Lateral == Frontal``); blanks read as 0 (``fillna(0)``); for each class of
    Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion: that column is 1 and
    each of the other 12 observations (all but No Finding) is exactly 0 or blank, so an
    uncertain (-1) anywhere removes the image; 200 per class. GLoRIA then drops these images
    from its training split: do the same if you train on CheXpert.
mimic-5x200 (MedCLIP's name; its sampling code is not public)
    The same single-positive rule on ``mimic-cxr-2.0.0-chexpert.csv`` (study labels) joined
    to every frontal image (ViewPosition PA/AP) of the study; images drawn from the official
    ``test`` split only [our choice: never from data a model trains or selects on;
    ``--source-splits test,validate`` widens it]. Report texts come along when found.
rsna-pneumonia (GLoRIA ``preprocess_pneumonia_data``)
    ``stage_2_train_labels.csv`` grouped per patientId (Target 1 when any box), then GLoRIA's
    split reproduced exactly: ``train_test_split(test_size=0.3, random_state=0)`` and the
    held-out 30 % halved with ``random_state=0``; the first half is the test set (15 %,
    ~4,003 images, ~22 % pneumonia). Images ``stage_2_train_images/<patientId>.dcm``. Classes
    Pneumonia (Pneumonia = Lung Opacity = 1) and No Pneumonia (Pneumonia = 0). The eCLIP
    paper's RSNA file is pre-made and unpublished; this is the protocol it cites.
cxr14-14x100 (eCLIP reference ``CXR14x100_LABELS``)
    NIH ``Data_Entry_2017[_v2020].csv``; the 14 classes are No Finding and 13 findings
    (Hernia is left out, as in the reference: too few single-label images); images whose
    ``Finding Labels`` is exactly that one label; from ``test_list.txt`` (the official
    patient-wise test split) when it is in --root, else from every image (logged); 100 per
    class. Findings without a CheXpert column (Infiltration, Mass, Nodule, Emphysema,
    Fibrosis, Pleural Thickening) get their own columns (``labels.EXTRA_LABELS``).
openi-retrieval (eCLIP reference ``eval_retrieval_openI.py``)
    ``indiana_reports.csv`` merged with ``indiana_projections.csv``, frontal only, rows with
    no findings text dropped (or the NLMCXR XML with views from the DICOM metadata); every
    image is a query against the unique findings texts (the index pairs each image with its
    findings). MeSH labels ride along.
"""

from __future__ import annotations

SET_NAMES = ("chexpert-5x200", "mimic-5x200", "rsna-pneumonia", "cxr14-14x100", "openi-retrieval")
