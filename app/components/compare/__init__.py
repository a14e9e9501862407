"""The second model the sidebar compares with: side by side, and the three pages' comparisons
(Model vs gaze maps, paired zero-shot scores, embedding-map changes)."""
