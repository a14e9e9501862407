"""The case a page shows: the current case and its link, the case box, loading it, its
typicality, and the model notes shown over it."""
