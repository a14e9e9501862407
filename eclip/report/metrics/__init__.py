"""Generated reports scored against reference reports.

``text`` (the metrics: BLEU-1..4, ROUGE-L, MiniLM cosine, finding-level F1), ``runner``
(draft a split with each backend and score it), ``table`` (the Markdown table of several
backends), ``cli`` (``python -m eclip.report.metrics``). The text metrics are importable from
here.
"""

from eclip.report.metrics.text import (BLEU_ORDERS, corpus_bleu, embedding_cosines, finding_f1, lcs_length,
                                       mean_rouge_l, report_metrics, rouge_l, sentence_model, tokenize)

__all__ = ["BLEU_ORDERS", "corpus_bleu", "embedding_cosines", "finding_f1", "lcs_length", "mean_rouge_l",
           "report_metrics", "rouge_l", "sentence_model", "tokenize"]
