"""Zero-shot classification: prompt sets (files in assets/prompts/ or typed here) scored
against every image of a split through the cached index. Multiclass sets give accuracy,
macro-F1 and the confusion matrix; binary (positive/negative) sets give AUROC per label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from eclip.errors import PromptSetError
from eclip.evaluate.metrics import accuracy, auroc, confusion_matrix, macro_f1
from eclip.evaluate.targets import binary_targets, multiclass_targets
from eclip.evaluate.zeroshot import binary_scores, multiclass_scores
from eclip.model.encode import encode_class_prompts
from eclip.model.prompts import PromptClass, PromptSet, list_prompt_sets

from app import index_job, loaders, state, widgets

CUSTOM = "custom (type prompts)"
CUSTOM_EXAMPLE = ("Cardiomegaly: The heart is enlarged. | Cardiomegaly.\n"
                  "Pleural Effusion: Small pleural effusion. | Blunting of the costophrenic angle.\n"
                  "No Finding: The lungs are clear. | No acute cardiopulmonary process.")


def parse_custom(text: str) -> dict[str, list[str]]:
    """'Class: prompt | prompt' per line -> {class: [prompts]}; the class name doubles as
    the manifest label it is scored against when such a column exists."""
    classes: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if ":" not in line:
            raise PromptSetError(f"{line!r}: write 'Class name: prompt | another prompt'.")
        name, prompts = line.split(":", 1)
        items = [p.strip() for p in prompts.split("|") if p.strip()]
        if not name.strip() or not items:
            raise PromptSetError(f"{line!r}: needs a class name and at least one prompt.")
        classes.setdefault(name.strip(), []).extend(items)
    if len(classes) < 2:
        raise PromptSetError("Give at least two classes, one per line.")
    return classes


def _custom_set(classes: dict[str, list[str]]) -> PromptSet:
    return PromptSet(name="custom", task="multiclass", classes=tuple(
        PromptClass(name=n, labels=(n,), prompts=tuple(p)) for n, p in classes.items()))


def _confusion_figure(cm: np.ndarray, names: list[str]) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=cm.tolist(), x=names, y=names, colorscale="Blues", text=cm.tolist(),
                               texttemplate="%{text}", showscale=False,
                               hovertemplate="true %{y}<br>predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(height=120 + 45 * len(names), margin=dict(l=0, r=0, t=10, b=0),
                      xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed")
    return fig


def _multiclass(root, ps: PromptSet, class_emb, emb, df: pd.DataFrame) -> None:
    pred, probs = multiclass_scores(emb, class_emb)
    names = ps.class_names
    target = multiclass_targets(df, ps)
    scored = target >= 0
    c = st.columns(3)
    c[0].metric("cases with one target class", f"{int(scored.sum())} of {len(df)}")
    if scored.any():
        c[1].metric("accuracy", f"{accuracy(target[scored], pred[scored]):.3f}")
        c[2].metric("macro-F1", f"{macro_f1(target[scored], pred[scored], len(names)):.3f}")
        cm = confusion_matrix(target[scored], pred[scored], len(names))
        st.plotly_chart(_confusion_figure(cm, names), key="zs_cm")
    else:
        st.info("No case of this split has exactly one of these classes as a positive label, "
                "so only predictions are shown.")
    table = pd.DataFrame({"id": df["id"].to_numpy(), "predicted": [names[i] for i in pred],
                          "confidence": probs.max(axis=1).round(3),
                          "true": [names[t] if t >= 0 else "" for t in target]})
    _case_details(root, df, table, names, probs)


def _binary(ps: PromptSet, pair_emb, emb, df: pd.DataFrame) -> None:
    probs = binary_scores(emb, pair_emb)
    rows = []
    for j, lab in enumerate(ps.binary):
        y = binary_targets(df, lab)
        keep = ~np.isnan(y)
        rows.append({"label": lab.name, "positives": int(np.nansum(y)),
                     "AUROC": auroc(y[keep], probs[keep, j]) if keep.any() else np.nan,
                     "mean probability": float(probs[:, j].mean())})
    table = pd.DataFrame(rows)
    st.metric("macro AUROC (labels with both classes)",
              f"{np.nanmean(table['AUROC']):.3f}" if table["AUROC"].notna().any() else "–")
    st.dataframe(table.round(3), hide_index=True)


def _case_details(root, df: pd.DataFrame, table: pd.DataFrame, names, probs) -> None:
    st.dataframe(table, hide_index=True, height=260)
    ids = table["id"].tolist()
    case_id = st.selectbox("Inspect a case", ids, key="zs_case")
    i = ids.index(case_id)
    left, right = st.columns([1, 2])
    with left:
        widgets.case_gallery(root, df.iloc[[i]], columns=1)
    with right:
        fig = go.Figure(go.Bar(x=probs[i], y=names, orientation="h",
                               marker_color=["#d62728" if k == probs[i].argmax() else "#9ab"
                                             for k in range(len(names))]))
        fig.update_layout(height=60 + 36 * len(names), margin=dict(l=0, r=0, t=10, b=0),
                          xaxis=dict(range=[0, 1], title="probability (softmax, T = 0.01)"),
                          yaxis_autorange="reversed")
        st.plotly_chart(fig, key="zs_case_bar")


st.title("Zero-shot")
root, manifest = state.require_dataset()
checkpoint, lm = state.require_model()
index = index_job.require_index(checkpoint, root)
files = {p.stem: p for p in list_prompt_sets()}
c1, c2 = st.columns([2, 1])
choice = c1.selectbox("Prompt set", list(files) + [CUSTOM], key="zs_set",
                      help="Files in assets/prompts/ (classes × templates) or your own prompts.")
splits = sorted(s for s in manifest["split"].unique() if s)
split = c2.selectbox("Split", splits + ["all"], key="zs_split",
                     index=splits.index("test") if "test" in splits else 0)
rows = np.arange(len(manifest)) if split == "all" else np.flatnonzero(manifest["split"] == split)
if rows.size == 0:
    st.info("That split has no cases.")
    st.stop()
df = manifest.iloc[rows].reset_index(drop=True)
emb = np.asarray(index.image_emb[rows])
with state.eclip_errors("Check the prompt set."):
    if choice == CUSTOM:
        text = st.text_area("One class per line: `Class name: prompt | another prompt`",
                            value=CUSTOM_EXAMPLE, height=110, key="zs_custom")
        classes = parse_custom(text)
        ps = _custom_set(classes)
        class_emb = encode_class_prompts(lm, classes)
    else:
        ps, class_emb = loaders.prompt_set_embeddings(checkpoint, files[choice])
if ps.task == "multiclass":
    _multiclass(root, ps, class_emb, emb, df)
else:
    _binary(ps, class_emb, emb, df)
st.caption(f"{len(ps.class_names)} classes · {len(df)} images of split `{split}` · "
           "scores from the cached image embeddings and one pass of the prompts through the "
           "text tower.")
