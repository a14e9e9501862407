"""Writers of tiny fixtures in the exact public formats (for importer tests; reusable).

Column names, folder layouts and file names follow the real datasets: MIMIC-CXR-JPG
(+ MIMIC-CXR report texts), EGD-CXR, REFLACX, Open-I (NLMCXR XML and the Kaggle CSV pair).
Pixel content is synthetic (a bright blob on a grey ramp) and sizes are small, though never
below the 64 px a side an import accepts (eclip.data.radiograph.MIN_SIDE).
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

# MIMIC-CXR-JPG tables, in the real files' column order.
MIMIC_CHEXPERT_COLUMNS = (
    "subject_id", "study_id", "Atelectasis", "Cardiomegaly", "Consolidation", "Edema",
    "Enlarged Cardiomediastinum", "Fracture", "Lung Lesion", "Lung Opacity", "No Finding",
    "Pleural Effusion", "Pleural Other", "Pneumonia", "Pneumothorax", "Support Devices",
)
MIMIC_SPLIT_COLUMNS = ("dicom_id", "study_id", "subject_id", "split")
MIMIC_METADATA_COLUMNS = (
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition",
    "Rows", "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning",
)
EGD_FIXATION_COLUMNS = (
    "SESSION_ID", "MEDIA_ID", "DICOM_ID", "CNT", "Time (in secs)", "TIMETICK(f=10000000)",
    "FPOGX", "FPOGY", "FPOGS", "FPOGD", "FPOGID", "FPOGV", "BPOGX", "BPOGY", "BPOGV",
    "CX", "CY", "CS", "USER",
)
EGD_MASTER_COLUMNS = (
    "dicom_id", "path", "study_id", "patient_id", "stay_id", "gender", "anchor_age",
    "image_top_pad", "image_bottom_pad", "image_left_pad", "image_right_pad",
    "Normal", "CHF", "pneumonia",
)
EGD_SCREEN = (1080, 1920)  # (h, w)
REFLACX_METADATA_COLUMNS = (
    "id", "split", "eye_tracking_data_discarded", "image", "dicom_id", "subject_id",
    "image_size_x", "image_size_y", "Airway wall thickening", "Atelectasis", "Consolidation",
    "Enlarged cardiac silhouette", "Fibrosis", "Groundglass opacity", "Pneumothorax",
    "Pulmonary edema", "Quality issue", "Support devices", "Wide mediastinum",
    "Abnormal mediastinal contour", "Acute fracture", "Enlarged hilum", "Hiatal hernia",
    "High lung volume / emphysema", "Interstitial lung disease", "Lung nodule or mass",
    "Pleural abnormality",
)
REFLACX_FIXATION_COLUMNS = (
    "timestamp_start_fixation", "timestamp_end_fixation", "x_position", "y_position",
    "pupil_area_normalized", "angular_resolution_x_pixels_per_degree",
    "angular_resolution_y_pixels_per_degree", "window_width", "window_level",
    "xmin_shown_from_image", "xmax_shown_from_image", "ymin_shown_from_image",
    "ymax_shown_from_image", "xmin_in_screen_coordinates", "xmax_in_screen_coordinates",
    "ymin_in_screen_coordinates", "ymax_in_screen_coordinates",
)
KAGGLE_REPORT_COLUMNS = ("uid", "MeSH", "Problems", "image", "indication", "comparison",
                         "findings", "impression")
KAGGLE_PROJECTION_COLUMNS = ("uid", "filename", "projection")


# ------------------------------------------------------------------------------ images

def radiograph(h: int, w: int, seed: int = 0, blob=(0.4, 0.5)) -> np.ndarray:
    """uint8 HxW: a vertical ramp plus a bright blob at (y, x) fractions ``blob``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = 60 + 80 * yy / max(h - 1, 1)
    img += 100 * np.exp(-(((yy / h) - blob[0]) ** 2 + ((xx / w) - blob[1]) ** 2) / 0.02)
    img += rng.normal(0, 4, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_image(path: Path, h: int, w: int, seed: int = 0, fmt: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(radiograph(h, w, seed), mode="L").save(path, format=fmt)
    return path


def corrupt_file(path: Path) -> None:
    """Truncate an image file to a few bytes of its header: decoders must fail."""
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:40])


def _write_csv(path: Path, rows: list[dict], columns) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


# ----------------------------------------------------------------------------- MIMIC

@dataclass
class MimicImage:
    dicom_id: str
    subject_id: str
    study_id: str
    view: str = "PA"
    split: str = "train"
    size: tuple[int, int] = (96, 80)  # (h, w) of the JPEG we write
    seed: int = 0
    scale: int = 25  # DICOM grid = JPEG size x scale (a downscaled copy; gaze uses the grid)

    @property
    def native(self) -> tuple[int, int]:
        """(Rows, Columns) of the original DICOM: what the metadata table and gaze use."""
        return self.size[0] * self.scale, self.size[1] * self.scale

    def jpg(self, root: Path) -> Path:
        s = self.subject_id
        return Path(root) / "files" / f"p{s[:2]}" / f"p{s}" / f"s{self.study_id}" / f"{self.dicom_id}.jpg"


@dataclass
class MimicStudy:
    subject_id: str
    study_id: str
    findings: str
    impression: str
    labels: dict = field(default_factory=dict)  # CheXpert column -> "1.0"/"0.0"/"-1.0"


def dicom_id(n: int) -> str:
    """A dicom_id in MIMIC's form: five dash-joined groups of 8 hex digits."""
    h = f"{n:08x}"
    return "-".join([h, "bde0afdd", "112c0b34", "7bc16630", f"{n * 7919 % 16**8:08x}"])


def report_text(findings: str, impression: str, header: str = "FINDINGS:") -> str:
    """A MIMIC-CXR style free-text report (leading spaces and blank lines as in the files)."""
    return (
        "                                 FINAL REPORT\n"
        " EXAMINATION:  CHEST (PA AND LAT)\n \n"
        " INDICATION:  ___F with cough  // ?pneumonia\n \n"
        " COMPARISON:  None.\n \n"
        f" {header}\n \n {findings}\n \n"
        f" IMPRESSION:\n \n {impression}\n"
    )


def default_mimic() -> tuple[list[MimicImage], list[MimicStudy]]:
    """Three subjects, four studies, eight images (six frontal, two lateral)."""
    studies = [
        MimicStudy("10000032", "50414267", "Heart size is mildly enlarged. Lungs are clear.",
                   "Mild cardiomegaly.", {"Cardiomegaly": "1.0", "Edema": "-1.0", "Pneumonia": "0.0"}),
        MimicStudy("10000032", "53189527", "No pleural effusion or pneumothorax.",
                   "No acute cardiopulmonary process.", {"No Finding": "1.0"}),
        MimicStudy("10000764", "57375967", "Small left pleural effusion.",
                   "Small left effusion.", {"Pleural Effusion": "1.0", "Cardiomegaly": "0.0"}),
        MimicStudy("11000011", "51234567", "Right lower lobe opacity.",
                   "Pneumonia is possible.", {"Pneumonia": "-1.0", "Lung Opacity": "1.0"}),
    ]
    images = [
        MimicImage(dicom_id(1), "10000032", "50414267", "PA", "train", (96, 80), 1),
        MimicImage(dicom_id(2), "10000032", "50414267", "LATERAL", "train", (96, 80), 2),
        MimicImage(dicom_id(3), "10000032", "53189527", "AP", "train", (80, 96), 3),
        MimicImage(dicom_id(4), "10000764", "57375967", "PA", "validate", (100, 84), 4),
        MimicImage(dicom_id(5), "10000764", "57375967", "LL", "validate", (100, 84), 5),
        MimicImage(dicom_id(6), "10000764", "57375967", "AP", "validate", (88, 88), 6),
        MimicImage(dicom_id(7), "11000011", "51234567", "PA", "test", (120, 100), 7),
        MimicImage(dicom_id(8), "11000011", "51234567", "PA", "test", (90, 75), 8, scale=20),
    ]
    return images, studies


def write_mimic(root: Path, images=None, studies=None, gz: bool = False,
                reports_root: Path | None = None) -> tuple[list[MimicImage], list[MimicStudy]]:
    """MIMIC-CXR-JPG layout: files/pXX/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg, the chexpert /
    split / metadata tables, and report texts files/pXX/pNNNNNNNN/sNNNNNNNN.txt (under
    ``reports_root`` if given, as when MIMIC-CXR reports are kept apart)."""
    root = Path(root)
    if images is None:
        images, studies = default_mimic()
    for im in images:
        write_image(im.jpg(root), *im.size, seed=im.seed, fmt="JPEG")
    ext = ".csv.gz" if gz else ".csv"
    meta = [{
        "dicom_id": im.dicom_id, "subject_id": im.subject_id, "study_id": im.study_id,
        "PerformedProcedureStepDescription": "CHEST (PA AND LAT)", "ViewPosition": im.view,
        "Rows": im.native[0], "Columns": im.native[1], "StudyDate": "21800506", "StudyTime": "213014.531",
        "ProcedureCodeSequence_CodeMeaning": "CHEST (PA AND LAT)",
        "ViewCodeSequence_CodeMeaning": "postero-anterior" if im.view == "PA" else "lateral",
        "PatientOrientationCodeSequence_CodeMeaning": "Erect",
    } for im in images]
    _write_csv(root / f"mimic-cxr-2.0.0-metadata{ext}", meta, MIMIC_METADATA_COLUMNS)
    split = [{"dicom_id": im.dicom_id, "study_id": im.study_id, "subject_id": im.subject_id,
              "split": im.split} for im in images]
    _write_csv(root / f"mimic-cxr-2.0.0-split{ext}", split, MIMIC_SPLIT_COLUMNS)
    chex = [{"subject_id": st.subject_id, "study_id": st.study_id, **st.labels} for st in studies]
    _write_csv(root / f"mimic-cxr-2.0.0-chexpert{ext}", chex, MIMIC_CHEXPERT_COLUMNS)
    rep_root = Path(reports_root) if reports_root else root
    for st in studies:
        s = st.subject_id
        path = rep_root / "files" / f"p{s[:2]}" / f"p{s}" / f"s{st.study_id}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report_text(st.findings, st.impression))
    return images, studies


# ------------------------------------------------------------------------------- EGD

def egd_padding(h: int, w: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) screen padding of an image letterboxed on 1920x1080."""
    sh, sw = EGD_SCREEN
    scale = min(sw / w, sh / h)
    dw, dh = sw - round(w * scale), sh - round(h * scale)
    return dh // 2, dh - dh // 2, dw // 2, dw - dw // 2


def write_egd(folder: Path, images: list[MimicImage], target=(0.3, 0.3), n_fix: int = 12,
              seed: int = 0) -> Path:
    """EGD-CXR fixations.csv + master_sheet.csv. Fixations cluster around ``target``
    (y, x fractions of the image) so tests can check where the heatmap peaks."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    fix_rows, master = [], []
    for k, im in enumerate(images):
        h, w = im.native
        top, bottom, left, right = egd_padding(h, w)
        sh, sw = EGD_SCREEN
        t = 0.0
        for i in range(n_fix):
            fy = np.clip(target[0] + rng.normal(0, 0.03), 0.01, 0.99)
            fx = np.clip(target[1] + rng.normal(0, 0.03), 0.01, 0.99)
            gx = (left + fx * (sw - left - right)) / sw
            gy = (top + fy * (sh - top - bottom)) / sh
            dur = float(rng.uniform(0.15, 0.6))
            fix_rows.append({
                "SESSION_ID": 1, "MEDIA_ID": k, "DICOM_ID": im.dicom_id, "CNT": i,
                "Time (in secs)": round(t, 4), "TIMETICK(f=10000000)": int(t * 1e7),
                "FPOGX": round(gx, 5), "FPOGY": round(gy, 5), "FPOGS": round(t, 4),
                "FPOGD": round(dur, 4), "FPOGID": i + 1, "FPOGV": 1,
                "BPOGX": round(gx, 5), "BPOGY": round(gy, 5), "BPOGV": 1,
                "CX": 0.5, "CY": 0.5, "CS": 0, "USER": "",
            })
            t += dur + 0.05
        # one invalid fixation (FPOGV=0) the reader must drop
        fix_rows.append({**fix_rows[-1], "CNT": n_fix, "FPOGV": 0, "FPOGX": 0.99, "FPOGY": 0.99})
        master.append({
            "dicom_id": im.dicom_id, "path": f"files/p{im.subject_id[:2]}/p{im.subject_id}/"
            f"s{im.study_id}/{im.dicom_id}.dcm", "study_id": im.study_id,
            "patient_id": im.subject_id, "stay_id": "", "gender": "F", "anchor_age": 60,
            "image_top_pad": top, "image_bottom_pad": bottom, "image_left_pad": left,
            "image_right_pad": right, "Normal": 0, "CHF": 1, "pneumonia": 0,
        })
    _write_csv(folder / "fixations.csv", fix_rows, EGD_FIXATION_COLUMNS)
    _write_csv(folder / "master_sheet.csv", master, EGD_MASTER_COLUMNS)
    return folder


# --------------------------------------------------------------------------- REFLACX

@dataclass
class ReflacxReading:
    id: str  # e.g. P102R108387
    image: MimicImage
    target: tuple[float, float] = (0.7, 0.6)  # (y, x) fractions where fixations cluster
    discarded: bool = False
    phase: int = 1


def write_reflacx(folder: Path, readings: list[ReflacxReading], n_fix: int = 10,
                  seed: int = 0) -> Path:
    """REFLACX main_data/metadata_phase_N.csv + main_data/<id>/fixations.csv."""
    rng = np.random.default_rng(seed)
    main = Path(folder) / "main_data"
    by_phase: dict[int, list[dict]] = {}
    for rd in readings:
        im = rd.image
        h, w = im.native
        by_phase.setdefault(rd.phase, []).append({
            "id": rd.id, "split": "train", "eye_tracking_data_discarded": str(rd.discarded),
            "image": f"physionet.org/files/mimic-cxr/2.0.0/files/p{im.subject_id[:2]}/"
                     f"p{im.subject_id}/s{im.study_id}/{im.dicom_id}.dcm",
            "dicom_id": im.dicom_id, "subject_id": im.subject_id,
            "image_size_x": w, "image_size_y": h, "Atelectasis": 0, "Consolidation": 2,
        })
        rows, t = [], 0.0
        for _ in range(n_fix):
            dur = float(rng.uniform(0.1, 0.5))
            rows.append({
                "timestamp_start_fixation": round(t, 3), "timestamp_end_fixation": round(t + dur, 3),
                "x_position": float(np.clip(rd.target[1] + rng.normal(0, 0.03), 0.02, 0.98) * w),
                "y_position": float(np.clip(rd.target[0] + rng.normal(0, 0.03), 0.02, 0.98) * h),
                "pupil_area_normalized": 0.9, "angular_resolution_x_pixels_per_degree": 45.0,
                "angular_resolution_y_pixels_per_degree": 45.0, "window_width": 1.0,
                "window_level": 0.5, "xmin_shown_from_image": 0, "xmax_shown_from_image": w,
                "ymin_shown_from_image": 0, "ymax_shown_from_image": h,
                "xmin_in_screen_coordinates": 100, "xmax_in_screen_coordinates": 1800,
                "ymin_in_screen_coordinates": 0, "ymax_in_screen_coordinates": 1080,
            })
            t += dur + 0.1
        _write_csv(main / rd.id / "fixations.csv", rows, REFLACX_FIXATION_COLUMNS)
    for phase, rows in by_phase.items():
        _write_csv(main / f"metadata_phase_{phase}.csv", rows, REFLACX_METADATA_COLUMNS)
    return Path(folder)


REFLACX_ELLIPSE_COORDS = ("xmin", "ymin", "xmax", "ymax", "certainty")  # then one column per label
EGD_BOX_COLUMNS = ("dicom_id", "bbox_name", "x1", "x2", "y1", "y2")


def write_reflacx_ellipses(folder: Path, reading_id: str, ellipses: list[dict],
                           labels=("Atelectasis", "Consolidation", "Pleural abnormality")) -> Path:
    """main_data/<id>/anomaly_location_ellipses.csv as REFLACX's create_main_table.py writes
    it: xmin, ymin, xmax, ymax (native px, rounded), certainty (1-5), then a True/False column
    per label. Each dict: the four corners, ``certainty`` and ``labels`` (a list)."""
    rows = [{**{k: e[k] for k in REFLACX_ELLIPSE_COORDS}, **{lab: lab in e["labels"] for lab in labels}}
            for e in ellipses]
    return _write_csv(Path(folder) / "main_data" / reading_id / "anomaly_location_ellipses.csv",
                      rows, (*REFLACX_ELLIPSE_COORDS, *labels))


def write_egd_boxes(folder: Path, boxes: dict[str, list[tuple]]) -> Path:
    """EGD-CXR bounding_boxes.csv: dicom_id -> [(bbox_name, x1, x2, y1, y2)] (native px)."""
    rows = [{"dicom_id": did, "bbox_name": b[0], "x1": b[1], "x2": b[2], "y1": b[3], "y2": b[4]}
            for did, bs in boxes.items() for b in bs]
    return _write_csv(Path(folder) / "bounding_boxes.csv", rows, EGD_BOX_COLUMNS)


# ---------------------------------------------------------------------------- Open-I

@dataclass
class OpenIFixture:
    n: int  # report number: uid CXR<n>
    findings: str
    impression: str
    mesh: list[str]
    images: list[tuple[str, str]]  # (image id e.g. CXR1_1_IM-0001-3001, 'Frontal'/'Lateral')

    @property
    def uid(self) -> str:
        return f"CXR{self.n}"


def default_openi() -> list[OpenIFixture]:
    return [
        OpenIFixture(1, "The cardiac silhouette is enlarged.", "Cardiomegaly.",
                     ["Cardiomegaly/mild"],
                     [("CXR1_1_IM-0001-3001", "Frontal"), ("CXR1_1_IM-0001-4001", "Lateral")]),
        OpenIFixture(2, "Lungs are clear. No effusion.", "Normal chest.", ["normal"],
                     [("CXR2_IM-0652-1001", "Frontal"), ("CXR2_IM-0652-2001", "Lateral")]),
        OpenIFixture(3, "Small right pleural effusion.", "Right effusion.",
                     ["Pleural Effusion/right/small", "Opacity/lung/base/right"],
                     [("CXR3_IM-1384-1001", "Frontal")]),
        OpenIFixture(4, "Calcified granuloma in the left upper lobe.", "No acute disease.",
                     ["Calcified Granuloma/lung/upper lobe/left"],
                     [("CXR4_IM-2050-1001", "Frontal"), ("CXR4_IM-2050-2001", "Lateral")]),
    ]


def nlmcxr_xml(rep: OpenIFixture) -> str:
    """One report in the NLMCXR ``ecgen-radiology/<n>.xml`` structure."""
    majors = "".join(f"\n      <major>{m}</major>" for m in rep.mesh)
    imgs = "".join(
        f'\n   <parentImage id="{iid}">\n      <figureId>F{k + 1}</figureId>\n'
        f"      <caption>PA and lateral chest x-XXXX XXXX.</caption>\n"
        f"      <panel type=\"single\">\n         <url>/hadoop/storage/radiology/extract/{iid}.jpg</url>\n"
        f"      </panel>\n   </parentImage>"
        for k, (iid, _) in enumerate(rep.images))
    return f"""<?xml version="1.0" encoding="utf-8"?>
<eCitation>
   <meta type="rr"/>
   <uId id="{rep.uid}"/>
   <pmcId id="{rep.n}"/>
   <docSource>CXR</docSource>
   <IUXRId id="{rep.n}"/>
   <licenseType>open-access</licenseType>
   <MedlineCitation Owner="Indiana University" Status="supplied by publisher">
      <Article PubModel="Electronic">
         <ArticleTitle>Indiana University Chest X-ray Collection</ArticleTitle>
         <Abstract>
            <AbstractText Label="COMPARISON">None.</AbstractText>
            <AbstractText Label="INDICATION">XXXX-year-old male, chest pain.</AbstractText>
            <AbstractText Label="FINDINGS">{rep.findings}</AbstractText>
            <AbstractText Label="IMPRESSION">{rep.impression}</AbstractText>
         </Abstract>
      </Article>
   </MedlineCitation>
   <MeSH>{majors}
      <automatic>automatic term</automatic>
   </MeSH>{imgs}
</eCitation>
"""


def write_openi_xml(folder: Path, reports: list[OpenIFixture], tgz: Path | None = None) -> Path:
    """``folder/ecgen-radiology/<n>.xml``; also packed as NLMCXR_reports.tgz if ``tgz``."""
    xml_dir = Path(folder) / "ecgen-radiology"
    xml_dir.mkdir(parents=True, exist_ok=True)
    for rep in reports:
        (xml_dir / f"{rep.n}.xml").write_text(nlmcxr_xml(rep), encoding="utf-8")
    if tgz is not None:
        with tarfile.open(tgz, "w:gz") as tf:
            tf.add(xml_dir, arcname="ecgen-radiology")
    return xml_dir


def write_openi_images(folder: Path, reports: list[OpenIFixture], kaggle: bool = False,
                       size=(80, 72)) -> dict[str, Path]:
    """NLM names (CXR1_1_IM-0001-3001.png) or Kaggle names (1_IM-0001-3001.dcm.png)."""
    out = {}
    for k, rep in enumerate(reports):
        for j, (iid, _) in enumerate(rep.images):
            name = f"{iid[3:]}.dcm.png" if kaggle else f"{iid}.png"
            out[iid] = write_image(Path(folder) / name, *size, seed=10 * k + j)
    return out


def write_openi_kaggle(folder: Path, reports: list[OpenIFixture]) -> tuple[Path, Path]:
    """indiana_reports.csv + indiana_projections.csv (Kaggle layout)."""
    rep_rows, proj_rows = [], []
    for rep in reports:
        rep_rows.append({
            "uid": rep.n, "MeSH": ";".join(rep.mesh),
            "Problems": ";".join(m.split("/")[0] for m in rep.mesh),
            "image": "Xray Chest PA and Lateral", "indication": "XXXX-year-old male, chest pain.",
            "comparison": "None.", "findings": rep.findings, "impression": rep.impression,
        })
        for iid, proj in rep.images:
            proj_rows.append({"uid": rep.n, "filename": f"{iid[3:]}.dcm.png", "projection": proj})
    folder = Path(folder)
    return (_write_csv(folder / "indiana_reports.csv", rep_rows, KAGGLE_REPORT_COLUMNS),
            _write_csv(folder / "indiana_projections.csv", proj_rows, KAGGLE_PROJECTION_COLUMNS))


# ---------------------------------------------------------------------------- folder

def write_folder_dataset(folder: Path, n: int = 6) -> Path:
    """images/<name>.png|.jpg + cases.csv with path, report text, split, labels, patient."""
    folder = Path(folder)
    rows = []
    for i in range(n):
        ext = "png" if i % 2 == 0 else "jpg"
        rel = f"imgs/case {i}.{ext}"  # a space: ids must be sanitised
        write_image(folder / rel, 66 + i, 64, seed=i, fmt="PNG" if ext == "png" else "JPEG")
        rows.append({
            "file": rel, "report_findings": f"Finding text {i}.", "report_impression": f"Impression {i}.",
            "set": ["train", "val", "test"][i % 3], "patient": f"MRN{i // 2:04d}", "view": "pa",
            "Cardiomegaly": ["1", "0", "-1", ""][i % 4], "effusion": ["", "1.0", "0.0"][i % 3],
        })
    _write_csv(folder / "cases.csv", rows, list(rows[0]))
    return folder
