"""What keeps the Draft report's context fast at MIMIC scale (benchmarks/app_scale.py measures
it): the nearest training reports without copying the pool. No timings here: the test checks
the result the fast path must give."""

from __future__ import annotations

import numpy as np


# --------------------------------------------------------------------------- draft report context
def _report_index(n_reports: int, dim: int = 64):
    """An index-like object of ``n_reports`` unique reports, one case each, in three splits,
    with exact ties (repeated report embeddings) so the order of equal scores is tested."""
    from types import SimpleNamespace

    import pandas as pd

    rng = np.random.default_rng(0)
    base = rng.standard_normal((n_reports // 4, dim)).astype(np.float32)
    emb = np.repeat(base / np.linalg.norm(base, axis=1, keepdims=True), 4, axis=0)
    ids = [f"c{i}" for i in range(n_reports)]
    index = SimpleNamespace(path="mem", ids=ids, texts=[f"report {i}" for i in range(n_reports)],
                            text_emb=emb, text_index=np.arange(n_reports))
    manifest = pd.DataFrame({"id": ids, "split": rng.choice(["train", "train", "test"], n_reports)})
    return index, manifest, emb[7] + 0.05 * rng.standard_normal(dim).astype(np.float32)


def test_draft_context_takes_the_nearest_reports_without_copying_the_pool():
    """The Draft report's 100 nearest training reports: the same cases, ties included, as a
    stable full sort of the pool, without a copy of the pool's embeddings (~200 MB at
    200,000 reports) or a sort of all of them."""
    import tracemalloc

    import sklearn.cluster  # noqa: F401  (its first import allocates ~60 MB: not the draft's)

    from eclip.report.context import retrieve_terms, text_pool

    index, manifest, query = _report_index(40_000)
    pool = text_pool(index, manifest)
    train = np.flatnonzero(manifest["split"].to_numpy() == "train")
    assert list(pool.text_rows) == list(train) and pool.case_ids == tuple(index.ids[r] for r in train)
    sims = (index.text_emb @ query)[pool.text_rows]
    expect = [pool.case_ids[i] for i in np.argsort(-sims, kind="stable")[:100]]
    tracemalloc.start()
    terms, neighbours = retrieve_terms(query, index, pool, k=100, n_clusters=5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert neighbours == expect
    assert sum(t.cluster_size for t in terms) == 100 and {t.case_id for t in terms} <= set(expect)
    assert peak < index.text_emb.nbytes / 4  # old: the pool's rows copied, ~2/3 of the matrix
