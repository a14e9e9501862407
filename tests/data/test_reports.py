"""Report parsing: MIMIC-CXR text sections, NLMCXR XML, MeSH -> CheXpert labels."""

from __future__ import annotations

import collections
import gzip
import io
import math
import tarfile
import time

import pytest

from eclip.data.manifest import LABELS
from eclip.data.reports import (
    MimicReport,
    OpenIReport,
    default_nlmcxr_tgz,
    iter_nlmcxr_tgz,
    mesh_to_labels,
    parse_mesh_term,
    parse_mimic_report,
    parse_nlmcxr_xml,
)
from eclip.errors import ReportFormatError

# ----------------------------------------------------------------------------- MIMIC-CXR

MIMIC_STANDARD = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)
 
 INDICATION:  ___F with new onset ascites  // eval for infection
 
 TECHNIQUE:  Chest PA and lateral
 
 COMPARISON:  None.
 
 FINDINGS: 
 
 There is no focal consolidation, pleural effusion or pneumothorax.  Bilateral
 nodular opacities that most likely represent nipple shadows. The
 cardiomediastinal silhouette is normal.
 
 IMPRESSION: 
 
 No acute cardiopulmonary process.
"""


def test_mimic_standard_sections():
    rep = parse_mimic_report(MIMIC_STANDARD)
    assert isinstance(rep, MimicReport)
    assert rep.findings == ("There is no focal consolidation, pleural effusion or pneumothorax. "
                            "Bilateral nodular opacities that most likely represent nipple "
                            "shadows. The cardiomediastinal silhouette is normal.")
    assert rep.impression == "No acute cardiopulmonary process."
    assert rep.text.startswith("FINAL REPORT EXAMINATION: CHEST (PA AND LAT) INDICATION:")
    assert "  " not in rep.text and "\n" not in rep.text


def test_mimic_headers_mid_line_after_final_report():
    rep = parse_mimic_report("FINAL REPORT EXAMINATION: CHEST PORTABLE INDICATION: Cough. "
                             "COMPARISON: ___. FINDINGS: Heart size is normal. Lungs are clear. "
                             "IMPRESSION: No pneumonia.")
    assert rep.findings == "Heart size is normal. Lungs are clear."
    assert rep.impression == "No pneumonia."


def test_mimic_findings_and_impression_combined_goes_to_impression():
    rep = parse_mimic_report(" FINAL REPORT\n HISTORY:  Dyspnea.\n\n FINDINGS AND IMPRESSION:  "
                             "Mild pulmonary edema.\n Small bilateral effusions.\n")
    assert rep.findings == ""
    assert rep.impression == "Mild pulmonary edema. Small bilateral effusions."


def test_mimic_impression_without_colon_and_mixed_case():
    rep = parse_mimic_report("Findings:\nLow lung volumes.\n\nIMPRESSION\nNo acute process.\n")
    assert rep.findings == "Low lung volumes."
    assert rep.impression == "No acute process."
    rep = parse_mimic_report("findings: clear lungs.\nImpression\n  Normal chest.")
    assert (rep.findings, rep.impression) == ("clear lungs.", "Normal chest.")
    rep = parse_mimic_report("IMPRESSION  Stable cardiomegaly.\n\nNOTIFICATION: Called Dr. ___.")
    assert rep.impression == "Stable cardiomegaly."


def test_mimic_conclusion_is_impression_and_repeats_concatenate():
    rep = parse_mimic_report("FINDINGS: Tube in place.\nCONCLUSION: Line ok.\n\n"
                             "ADDENDUM: reviewed.\nIMPRESSION: Tube tip 3 cm above carina.")
    assert rep.findings == "Tube in place."
    assert rep.impression == "Line ok. Tube tip 3 cm above carina."


def test_mimic_lower_case_prose_colon_does_not_split():
    rep = parse_mimic_report("FINDINGS: Compared with the prior exam: no change in the "
                             "right effusion.\nIMPRESSION: Stable.")
    assert rep.findings == "Compared with the prior exam: no change in the right effusion."


def test_mimic_without_sections_uses_last_paragraph():
    rep = parse_mimic_report("                 FINAL REPORT\n\nCHEST RADIOGRAPH PERFORMED ON ___\n"
                             "Heart size normal.\n\nNo acute cardiopulmonary process.  \n\n")
    assert rep.findings == ""
    assert rep.impression == "No acute cardiopulmonary process."
    # A last paragraph that starts with another header keeps only its text.
    rep = parse_mimic_report("EXAMINATION: CHEST\n\nINDICATION: fever\n\nNOTE: lungs clear.")
    assert rep.impression == "NOTE: lungs clear."
    rep = parse_mimic_report("Heart normal.\n\nRECOMMENDATION(S):  CT in 3 months.")
    assert rep.impression == "CT in 3 months."


def test_mimic_only_findings_leaves_impression_empty():
    rep = parse_mimic_report("FINDINGS: Normal heart.\n\nLungs clear.")
    assert rep.findings == "Normal heart. Lungs clear." and rep.impression == ""


def test_mimic_crlf_and_empty():
    rep = parse_mimic_report("FINDINGS:\r\nA.\r\nIMPRESSION:\r\nB.\r\n")
    assert (rep.findings, rep.impression) == ("A.", "B.")
    assert parse_mimic_report("") == MimicReport("", "", "")


@pytest.mark.parametrize("bad", [None, b"FINDINGS: x", 3])
def test_mimic_rejects_non_text(bad):
    with pytest.raises(ReportFormatError, match="must be str"):
        parse_mimic_report(bad)


# ----------------------------------------------------------------------------- NLMCXR XML

XML_TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
   <meta type="rr"/>
   <uId id="{uid}"/>
   <pmcId id="{n}"/>
   <docSource>CXR</docSource>
   <IUXRId id="{n}"/>
   <licenseType>open-access</licenseType>
   <MedlineCitation Owner="Indiana University" Status="supplied by publisher">
      <Article PubModel="Electronic">
         <ArticleTitle>Indiana University Chest X-ray Collection</ArticleTitle>
         <Abstract>
            <AbstractText Label="COMPARISON">{comparison}</AbstractText>
            <AbstractText Label="INDICATION">{indication}</AbstractText>
            <AbstractText Label="FINDINGS">{findings}</AbstractText>
            <AbstractText Label="IMPRESSION">{impression}</AbstractText>
         </Abstract>
         <Affiliation>Indiana University</Affiliation>
      </Article>
   </MedlineCitation>
   <MeSH>
{mesh}
   </MeSH>
{images}
</eCitation>"""


def nlmcxr_xml(n=1, uid=None, findings="The heart is normal.", impression="Normal chest x-XXXX.",
               majors=("normal",), automatic=(), images=("CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"),
               indication="Positive TB test", comparison="None."):
    mesh = "\n".join([f"      <major>{m}</major>" for m in majors]
                     + [f"      <automatic>{a}</automatic>" for a in automatic])
    imgs = "\n".join(
        f'   <parentImage id="{i}">\n      <figureId>F{k + 1}</figureId>\n'
        f"      <caption>Xray Chest PA and Lateral</caption>\n      <panel type=\"single\">\n"
        f"         <url>/hadoop/storage/radiology/extract/{i}.jpg</url>\n"
        f"         <imgModality>7</imgModality>\n      </panel>\n   </parentImage>"
        for k, i in enumerate(images))
    return XML_TEMPLATE.format(uid=uid or f"CXR{n}", n=n, findings=findings, impression=impression,
                               indication=indication, comparison=comparison, mesh=mesh,
                               images=imgs).encode("utf-8")


def test_parse_nlmcxr_xml_fields():
    rep = parse_nlmcxr_xml(nlmcxr_xml(
        n=1000, findings="There is XXXX increased\n   opacity within the right upper lobe.",
        impression="1. Increased opacity.", majors=("Opacity/lung/upper lobe/right",
                                                   "Pulmonary Atelectasis/upper lobe/right"),
        automatic=("atelectases",), images=("CXR1000_IM-0003-1001",)))
    assert isinstance(rep, OpenIReport)
    assert rep.uid == "CXR1000"
    assert rep.findings == "There is XXXX increased opacity within the right upper lobe."
    assert rep.impression == "1. Increased opacity."
    assert rep.mesh_major == ["Opacity/lung/upper lobe/right", "Pulmonary Atelectasis/upper lobe/right"]
    assert rep.image_ids == ["CXR1000_IM-0003-1001"]
    assert (rep.indication, rep.comparison) == ("Positive TB test", "None.")


def test_parse_nlmcxr_xml_empty_sections_and_no_images():
    xml = nlmcxr_xml(findings="", impression="", majors=(), images=()).replace(
        b'<AbstractText Label="FINDINGS"></AbstractText>', b'<AbstractText Label="FINDINGS"/>')
    rep = parse_nlmcxr_xml(xml)
    assert (rep.findings, rep.impression, rep.mesh_major, rep.image_ids) == ("", "", [], [])
    assert parse_nlmcxr_xml(xml.decode()).uid == "CXR1"  # str input works too


def test_parse_nlmcxr_xml_errors():
    with pytest.raises(ReportFormatError, match="12.xml.*well-formed"):
        parse_nlmcxr_xml(nlmcxr_xml()[:-30], source="ecgen-radiology/12.xml")
    with pytest.raises(ReportFormatError, match="uId"):
        parse_nlmcxr_xml(b"<eCitation><MeSH><major>normal</major></MeSH></eCitation>")
    with pytest.raises(ReportFormatError, match="uId"):
        parse_nlmcxr_xml(b"<html><body>hello</body></html>")


def write_tgz(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_iter_nlmcxr_tgz_fixture(tmp_path):
    path = write_tgz(tmp_path / "NLMCXR_reports.tgz", [
        ("ecgen-radiology/1.xml", nlmcxr_xml(1)),
        ("ecgen-radiology/README.txt", b"not a report"),
        ("ecgen-radiology/2.xml", nlmcxr_xml(2, majors=("Cardiomegaly/mild",))),
    ])
    reports = list(iter_nlmcxr_tgz(path))
    assert [r.uid for r in reports] == ["CXR1", "CXR2"]
    assert reports[1].mesh_major == ["Cardiomegaly/mild"]


def test_iter_nlmcxr_tgz_errors(tmp_path):
    with pytest.raises(ReportFormatError, match="not found"):
        list(iter_nlmcxr_tgz(tmp_path / "missing.tgz"))
    (tmp_path / "junk.tgz").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ReportFormatError, match="junk.tgz.*corrupt"):
        list(iter_nlmcxr_tgz(tmp_path / "junk.tgz"))
    good = write_tgz(tmp_path / "good.tgz", [(f"ecgen-radiology/{i}.xml", nlmcxr_xml(i))
                                             for i in range(1, 40)])
    (tmp_path / "trunc.tgz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ReportFormatError, match="trunc.tgz"):
        list(iter_nlmcxr_tgz(tmp_path / "trunc.tgz"))
    bad_xml = write_tgz(tmp_path / "bad.tgz", [("ecgen-radiology/7.xml", b"<eCitation><uId")])
    with pytest.raises(ReportFormatError, match="7.xml"):
        list(iter_nlmcxr_tgz(bad_xml))
    empty = write_tgz(tmp_path / "empty.tgz", [("notes.txt", b"x")])
    with pytest.raises(ReportFormatError, match="no .xml"):
        list(iter_nlmcxr_tgz(empty))
    (tmp_path / "plain.gz").write_bytes(gzip.compress(b"just text, not a tar"))
    with pytest.raises(ReportFormatError, match="plain.gz"):
        list(iter_nlmcxr_tgz(tmp_path / "plain.gz"))


def test_real_nlmcxr_tgz_from_torchxrayvision():
    path = default_nlmcxr_tgz()
    assert path.parts[-3:] == ("torchxrayvision", "data", "NLMCXR_reports.tgz")
    t0 = time.perf_counter()
    reports = list(iter_nlmcxr_tgz())
    elapsed = time.perf_counter() - t0
    assert len(reports) == 3955
    assert len({r.uid for r in reports}) == 3955
    assert elapsed < 15
    findings = collections.Counter(parse_mesh_term(m)[0] for r in reports for m in r.mesh_major)
    top = [name for name, _ in findings.most_common(5)]
    assert top[0] == "normal" and "Cardiomegaly" in top
    assert findings["normal"] == 1391
    assert sum(len(r.image_ids) for r in reports) > 7000
    assert sum(bool(r.findings) for r in reports) > 3000
    first = next(r for r in reports if r.uid == "CXR1")
    assert first.image_ids == ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"]
    # The label table covers the data: most abnormal reports get at least one label.
    labelled = [mesh_to_labels(r.mesh_major) for r in reports]
    assert sum(lab["No Finding"] == 1 for lab in labelled) == 1391
    abnormal = [lab for lab in labelled if lab["No Finding"] == 0]
    with_label = sum(any(lab[k] == 1 for k in LABELS[1:]) for lab in abnormal)
    assert with_label / len(abnormal) > 0.6
    assert sum(lab["Cardiomegaly"] == 1 for lab in labelled) >= 375


# ----------------------------------------------------------------------------- MeSH


@pytest.mark.parametrize("term,expected", [
    ("Pleural Effusion/right/small", ("Pleural Effusion", ["right", "small"])),
    ("Cardiomegaly", ("Cardiomegaly", [])),
    ("  Subcutaneous  Emphysema / right ", ("Subcutaneous Emphysema", ["right"])),
    ("Mediastinum/paratracheal/enlarged /", ("Mediastinum", ["paratracheal", "enlarged"])),
])
def test_parse_mesh_term(term, expected):
    assert parse_mesh_term(term) == expected


@pytest.mark.parametrize("bad", ["", "  /right", None, 5])
def test_parse_mesh_term_rejects_empty(bad):
    with pytest.raises(ReportFormatError, match="MeSH"):
        parse_mesh_term(bad)


def positives(labels):
    return sorted(k for k, v in labels.items() if v == 1)


def test_mesh_normal():
    labels = mesh_to_labels(["normal"])
    assert list(labels) == list(LABELS)
    assert labels["No Finding"] == 1 and all(labels[k] == 0 for k in LABELS[1:])
    assert mesh_to_labels(["normal", "No Indexing"]) == labels


@pytest.mark.parametrize("majors,expected", [
    (["Cardiomegaly/mild"], ["Cardiomegaly", "Enlarged Cardiomediastinum"]),
    (["Cardiac Shadow/enlarged/mild"], ["Cardiomegaly", "Enlarged Cardiomediastinum"]),
    (["Mediastinum/prominent"], ["Enlarged Cardiomediastinum"]),
    (["Pleural Effusion/right/small", "Pulmonary Atelectasis/base/left"],
     ["Atelectasis", "Pleural Effusion"]),
    (["Opacity/lung/base/left"], ["Lung Opacity"]),
    (["Airspace Disease/lung/base/bilateral"], ["Lung Opacity"]),
    (["Infiltrate/lung/lower lobe/right/patchy"], ["Lung Opacity"]),
    (["Consolidation/lung/lower lobe/left"], ["Consolidation", "Lung Opacity"]),
    (["Pneumonia/upper lobe/right"], ["Pneumonia"]),
    (["Pulmonary Edema/interstitial/mild"], ["Edema"]),
    (["Pulmonary Congestion/mild"], ["Edema"]),
    (["Nodule/lung/lingula"], ["Lung Lesion"]),
    (["Calcified Granuloma/lung/upper lobe/left"], ["Lung Lesion"]),
    (["Granulomatous Disease"], ["Lung Lesion"]),
    (["Mass/breast/large"], []),
    (["Pneumothorax/apex/right/small"], ["Pneumothorax"]),
    (["Hydropneumothorax/right"], ["Pleural Effusion", "Pneumothorax"]),
    (["Fractures, Bone/ribs/left/healed"], ["Fracture"]),
    (["Catheters, Indwelling/right"], ["Support Devices"]),
    (["Tube, Inserted/trachea, carina"], ["Support Devices"]),
    (["Implanted Medical Device/left", "Surgical Instruments/mediastinum"], ["Support Devices"]),
    (["Thickening/pleura/apex/bilateral"], ["Pleural Other"]),
    (["Thickening/bronchovascular"], []),
    (["Density/lung/lingula"], ["Lung Opacity"]),
    (["Spine/degenerative", "Calcinosis/aorta"], []),
    (["thoracic vertebrae/degenerative"], []),
    (["pleural effusion/LEFT"], ["Pleural Effusion"]),
])
def test_mesh_abnormal_reports(majors, expected):
    labels = mesh_to_labels(majors)
    assert list(labels) == list(LABELS)
    assert labels["No Finding"] == 0
    assert positives(labels) == sorted(expected)
    untouched = [k for k in LABELS if k != "No Finding" and k not in expected]
    assert all(math.isnan(labels[k]) for k in untouched)


def test_mesh_normal_with_abnormal_term_is_abnormal():
    labels = mesh_to_labels(["normal", "Cardiomegaly"])
    assert labels["No Finding"] == 0 and labels["Cardiomegaly"] == 1


def test_mesh_nothing_known():
    for majors in ([], ["No Indexing"], ["Technical Quality of Image Unsatisfactory"], [""]):
        assert all(math.isnan(v) for v in mesh_to_labels(majors).values())
