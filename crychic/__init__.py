"""CRYCHIC: skeleton heatmaps guide a light RGB student for action recognition.

Packages follow dvc.yaml: core -> sources (ingest) -> keypoints -> clips -> heatmaps, rgb ->
models, losses, training -> evaluation; reporting: MLflow runs and figures.
"""
