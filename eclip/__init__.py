"""eCLIP: gaze-guided contrastive image-report learning for chest X-rays."""

__version__ = "0.1.0"
