"""Data layer: images, gaze, reports, manifests, importers, the demo corpus.

Knows nothing of models (never imports torch models)."""
