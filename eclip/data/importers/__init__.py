"""Importers that turn public chest X-ray datasets into dataset folders (see common.py)."""
