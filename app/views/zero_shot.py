"""Zero-shot classification: prompt sets (files in eclip/assets/prompts/ or typed here) scored
against every image of a split through the cached index. Multiclass sets give balanced
accuracy, macro-F1 and accuracy beside a constant answer, and the confusion matrix; binary
(positive/negative) sets give AUROC per label, their mean beside a constant score's 0.5.
Typed prompts are parsed and matched to label columns by eclip.evaluate.typed_prompts;
this page shows which class was scored against which column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from eclip.evaluate.metrics import confusion_matrix
from eclip.evaluate.typed_prompts import TypedPrompts, parse_classes, parse_pairs
from eclip.evaluate.suite import MIN_POSITIVES
from eclip.evaluate.zeroshot import (mean_auroc, multiclass_scores,
                                     results_for_display)
from eclip.index.store import EmbeddingIndex
from eclip.index.zero_shot_calibration import calibration_for, pair_logits
from eclip.model.checkpoint import LoadedModel
from eclip.model.encode import encode_prompt_sets, probability_scale
from eclip.model.prompts import PromptSet, list_prompt_sets

from app.components import index_job, loaders, model_reads, state, upload, widgets
from app.components.compare import side_by_side, zero_shot_paired
from app.components.compare.zero_shot_paired import Scored
from app.components.case import current_case, loader, model_notes, typicality
from app.render.zero_shot_charts import confusion_figure, probability_bars

CUSTOM = "custom (type prompts)"
CLASSES, PAIRS = "classes: each image gets one", "pairs: positive | negative, AUROC each"
CLASS_EXAMPLE = ("cardiomegaly\n"
                 "pleural effusion: There is a {}.; Blunting of the costophrenic angle.\n"
                 "No Finding: The lungs are clear. | No acute cardiopulmonary process.")
PAIR_EXAMPLE = ("pleural effusion | no pleural effusion\n"
                "cardiomegaly: The heart is enlarged.; {}. | Heart size is normal.; No {}.\n"
                "pneumothorax | no pneumothorax")
CLASS_HELP = ("One class per line. A line alone is the class and its prompt; `name: prompt; "
              "prompt` gives several prompts (`|` works as `;`, `{}` stands for the name). "
              "Names match label columns in any case and through known synonyms, "
              "e.g. `no pleural effusion`.")
PAIR_HELP = ("One pair per line: `positive | negative`, or `name: prompt; prompt | prompt; "
             "prompt` (`{}` stands for the name). Each pair gets an AUROC against the label "
             "its name matches.")


def _typed_prompts() -> TypedPrompts:
    mode = st.radio("Typed prompts", [CLASSES, PAIRS], horizontal=True, key="zs_custom_mode")
    if mode == CLASSES:
        return parse_classes(st.text_area("Classes, one per line", value=CLASS_EXAMPLE,
                                          height=110, key="zs_custom", help=CLASS_HELP))
    return parse_pairs(st.text_area("Pairs, one per line: positive | negative",
                                    value=PAIR_EXAMPLE, height=110, key="zs_pairs",
                                    help=PAIR_HELP))


def _mapping(typed: TypedPrompts) -> None:
    st.markdown("**Scored against**")
    st.dataframe(typed.table(), hide_index=True, column_config={
        "label column": st.column_config.TextColumn(width=190),
        "matched by": st.column_config.TextColumn(width=250)})
    if not typed.labelled:
        st.info("No class matches a label column, so only per-image probabilities are shown. "
                "Name a class after a label (e.g. `pleural effusion`, `no pleural effusion`, "
                "`cardiomegaly`) to score it.")


def _class_axis(scale: float) -> str:
    return f"probability (softmax at the model's learned temperature, T = 1/{scale:.1f})"


def _multiclass(root, ps: PromptSet, scored: Scored, df: pd.DataFrame, notes, scale: float) -> None:
    pred, probs = scored.ranked
    names = ps.class_names
    target = zero_shot_paired.split_targets(manifest, rows, ps, df)  # df: the manifest's rows
    scored = target >= 0
    c = st.columns(4)
    c[0].metric("cases with one target class", f"{int(scored.sum())} of {len(df)}")
    if scored.any():
        base = zero_shot_paired.constant_answer(manifest, target, ps)
        for col, (title, key, fn) in zip(c[1:], zero_shot_paired.MULTICLASS_METRICS):
            value, floor = fn(target[scored], pred[scored], len(names)), base.scores[key]["majority"]
            col.metric(title, f"{value:.3f}", delta=f"{value - floor:+.3f} vs constant", delta_color="normal")
        st.caption(_constant_caption(base, names))
        cm = confusion_matrix(target[scored], pred[scored], len(names))
        st.plotly_chart(confusion_figure(cm, names), key="zs_cm")
    else:
        st.info("No case of this split has exactly one of these classes as a positive label, "
                "so only predictions are shown.")
    table = pd.DataFrame({"id": df["id"].to_numpy(), "predicted": [names[i] for i in pred],
                          "confidence": probs.max(axis=1).round(3),
                          "true": [names[t] if t >= 0 else "" for t in target]})
    _case_details(root, df, table, names, probs, notes, scale)


def _constant_caption(base, names) -> str:
    """The two answers that need no image, in words, beside the model's scores."""
    whose = "the train split's" if base.prior_from == "train" else "these cases' own"
    m, p = ({key: base.scores[key][kind] for key in ("balanced_accuracy", "macro_f1", "accuracy")}
            for kind in ("majority", "prior"))
    return (f"Δ: against a constant answer, **{names[base.majority]}** ({whose} most common class) for "
            f"every image, which scores balanced accuracy {m['balanced_accuracy']:.3f}, macro-F1 "
            f"{m['macro_f1']:.3f} and accuracy {m['accuracy']:.3f} here; drawing each class at "
            f"{whose} rate scores {p['balanced_accuracy']:.3f}, {p['macro_f1']:.3f} and "
            f"{p['accuracy']:.3f} on average. Balanced accuracy leads: plain accuracy rewards "
            "always answering the common class.")


PAIR_AXIS = "P(positive), calibrated on the validate split where it can be"


def _calibrated(idx: EmbeddingIndex, ps: PromptSet, pair_emb, emb, scale: float, keep: bool):
    """(calibrated probabilities [N, L], the calibration) of the pairs on the validate split
    of ``idx``'s model."""
    cal = calibration_for(idx, manifest, ps, pair_emb, scale, keep=keep)
    return cal.probabilities(pair_logits(emb, pair_emb[:, 0], pair_emb[:, 1], scale)), cal


def _binary(ps: PromptSet, scored: Scored, rows: np.ndarray, df: pd.DataFrame) -> None:
    probs = scored.ranked[1]  # raw: the AUROC is the model's ranking
    shown, cal = scored.shown, scored.calibration
    floor = int(st.number_input(
        "AUROC needs at least this many positives and negatives", min_value=1,
        value=MIN_POSITIVES, step=1, key="zs_min_pos",
        help="Below it a pair's AUROC is not shown: from a handful of positives it swings "
             "by chance. The default is eclip.evaluate's --min-positives."))
    table = zero_shot_paired.split_results(root, rows, df, ps, probs, floor)
    macro = mean_auroc(table)
    st.metric(f"macro AUROC (pairs with at least {floor} positives and negatives)",
              "–" if np.isnan(macro) else f"{macro:.3f}",
              delta=None if np.isnan(macro) else f"{macro - zero_shot_paired.CONSTANT_AUROC:+.3f} vs constant",
              delta_color="normal",
              help=f"Against {zero_shot_paired.CONSTANT_AUROC:.3f}: any constant score, and a random one on "
                   "average, ranks positives above negatives half of the time.")
    display = results_for_display(table.assign(**{"mean probability": shown.mean(axis=0)}))
    display["validate base rate"] = ["–" if f.base_rate is None else f"{100 * f.base_rate:.0f} %"
                                     for f in cal.findings]
    display["calibrated"] = [f.short() for f in cal.findings]
    st.dataframe(display, hide_index=True, column_config=FITS_1280)
    st.caption(cal.summary() + " AUROC is the raw scores' ranking.")
    st.caption("Positives and negatives are the images with a known label; uncertain labels "
               "and images without any label are left out, never counted as negatives.")
    st.markdown("**P(positive) per image**",
                help="Each pair's softmax over (positive, negative) at the model's learned "
                     "temperature, calibrated on the validate split where the pair has 10 "
                     "validate positives and negatives (else the median slope of those, levelled at "
                     "the pair's base rate): the probabilities the Draft report shows.")
    per_case = pd.DataFrame(shown.round(3), columns=ps.class_names)
    st.dataframe(per_case.assign(id=df["id"].to_numpy())[["id", *per_case.columns]],
                 hide_index=True, height=260)


# widths (px) that fit the pairs table's 8 columns in the ~800 px a 1280 x 720 window leaves
_W = st.column_config.Column
FITS_1280 = {
    "name": _W(width=125), "label column": _W(width=125), "positives": _W(width=62),
    "negatives": _W(width=66), "AUROC": _W(width=128),
    "mean probability": _W("mean P", width=82,
                           help="Mean probability over the split's images (calibrated where the pair is)."),
    "validate base rate": _W("base rate", width=74,
                             help="Share of the validate split's labelled films with the finding."),
    "calibrated": _W(width=150, help="yes: fitted on its validate films (Platt). pooled: too few validate "
                                     "positives or negatives for a fit of its own (count shown): the fitted "
                                     "findings' median slope, levelled at its base rate. no: the raw probability.")}


def _case_details(root, df: pd.DataFrame, table: pd.DataFrame, names, probs, notes, scale: float) -> None:
    st.dataframe(table, hide_index=True, height=260)
    ids = table["id"].tolist()
    case_id = st.selectbox("Inspect a case", ids, key="zs_case")
    i = ids.index(case_id)
    left, right = st.columns([1, 2])
    with left:
        widgets.case_gallery(root, df.iloc[[i]], columns=1)
    with right:
        notes(case_id)
        st.plotly_chart(probability_bars(probs[i], names, _class_axis(scale)), key="zs_case_bar")


def _image_notes(checkpoint, root, manifest, lm: LoadedModel, case_id: str) -> None:
    """Beside one shown image: the banner when it is a real film under a model trained on
    simulated films, and how typical it is of the model's own training images."""
    with state.eclip_errors():
        case = loader.load(root, manifest, case_id)
    model_notes.simulated_banner(checkpoint, case)
    typicality.show_typicality(checkpoint, root, manifest, lm, case)


def _upload_scores(lm: LoadedModel, idx: EmbeddingIndex, case, ps: PromptSet, class_emb,
                   keep: bool) -> tuple[np.ndarray, str]:
    """(probabilities, axis title) of one model for the upload: classes at its temperature,
    pairs calibrated on the validate split for that model where they can be."""
    emb = loader.embedding(lm, idx, case)[None]
    scale = probability_scale(lm)
    if ps.task == "multiclass":
        return multiclass_scores(emb, class_emb, temperature=1.0 / scale)[1][0], _class_axis(scale)
    return _calibrated(idx, ps, class_emb, emb, scale, keep)[0][0], PAIR_AXIS


def _uploaded(root, manifest, checkpoint, lm: LoadedModel, index: EmbeddingIndex, ps: PromptSet, class_emb,
              prompt_file, other) -> None:
    """The session's uploaded image on the same prompts; with a compare model, both models'
    scores side by side."""
    keep = prompt_file is not None
    with state.eclip_errors():
        case = loader.load(root, manifest, current_case.UPLOAD_ID)
        scored = [(checkpoint, _upload_scores(lm, index, case, ps, class_emb, keep))]
    if other and (idx_b := side_by_side.other_index(other[0], root)) is not None:
        class_b = zero_shot_paired.prompt_embeddings(other[0], other[1], ps, prompt_file)
        with state.eclip_errors():
            scored.append((other[0], _upload_scores(other[1], idx_b, case, ps, class_b, keep)))
    st.subheader("Your uploaded image")
    model_notes.simulated_banner(checkpoint, case)
    left, right = st.columns([1, 2])
    left.image(case.pixels, width="stretch", clamp=True, caption=current_case.UPLOAD_ID)
    with right:
        typicality.show_typicality(checkpoint, root, manifest, lm, case)
    model_reads.stated(case, right)
    charts = right.columns(len(scored)) if len(scored) > 1 else [right]
    for col, (ck, (probs, axis)), role in zip(charts, scored, ("active", "compare with")):
        title = f"{side_by_side.label(ck)} ({role})" if len(scored) > 1 else ""
        col.plotly_chart(probability_bars(probs, ps.class_names, axis, title), key=f"zs_upload_bar_{role.split()[0]}"
                         if len(scored) > 1 else "zs_upload_bar")


st.title("Zero-shot")
root, manifest = state.require_dataset()
checkpoint, lm = state.require_model()
index = index_job.require_index(checkpoint, root)
files = {p.stem: p for p in list_prompt_sets()}
c1, c2 = st.columns([2, 1])
choice = c1.selectbox("Prompt set", list(files) + [CUSTOM], key="zs_set",
                      help="Files in eclip/assets/prompts/ (classes × templates) or your own prompts.")
splits = sorted(s for s in manifest["split"].unique() if s)
split = c2.selectbox("Split", splits + ["all"], key="zs_split",
                     index=splits.index("test") if "test" in splits else 0)
rows = np.arange(len(manifest)) if split == "all" else np.flatnonzero(manifest["split"] == split)
if rows.size == 0:
    st.info("That split has no cases.")
    st.stop()
df = manifest.iloc[rows].reset_index(drop=True)
model_notes.caveat_note(checkpoint, df)  # dataset cases too: a real film is not only an upload
emb = np.asarray(index.image_emb[rows])
typed = None
with state.eclip_errors("Check the prompts."):
    if choice == CUSTOM:
        typed = _typed_prompts()
        ps = typed.prompt_set
        class_emb = encode_prompt_sets(lm, [ps])[ps.name]
    else:
        ps, class_emb = loaders.prompt_set_embeddings(checkpoint, files[choice])
if typed is not None:
    _mapping(typed)
scale = probability_scale(lm)  # pair probabilities at the model's temperature, as the draft's
# scored once for this page and the comparison below
scored = Scored.of(ps, index, manifest, emb, class_emb, scale, keep=choice != CUSTOM)
if ps.task == "multiclass":
    _multiclass(root, ps, scored, df,
                lambda case_id: _image_notes(checkpoint, root, manifest, lm, case_id), scale)
else:
    _binary(ps, scored, rows, df)
other = side_by_side.other_model()  # the sidebar's 'compare with' model, None when off
if other:
    zero_shot_paired.zero_shot(other, root, manifest, rows, ps, None if choice == CUSTOM else files[choice],
                               index, scored)
if upload.current() is not None:
    _uploaded(root, manifest, checkpoint, lm, index, ps, class_emb,
              None if choice == CUSTOM else files[choice], other)
kind = "classes" if ps.task == "multiclass" else "pairs"
st.caption(f"{len(ps.class_names)} {kind} · {len(df)} images of split `{split}` · "
           "scores from the cached image embeddings and one pass of the prompts through the "
           "text tower.")
model_reads.stated()
