"""Importers that turn public chest X-ray datasets into dataset folders (see engine.py)."""
