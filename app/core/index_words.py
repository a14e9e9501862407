"""The words every embedding-index warning opens with, kept apart from the page code.

Tools that drive the pages (the screenshot tool) recognise the stop by them whichever way the
index is unusable and whoever is signed in, without importing the app's cached loaders (which
warn when imported outside a Streamlit server).
"""

INDEX_NOT_READY = "The embedding index of this model over this dataset"
