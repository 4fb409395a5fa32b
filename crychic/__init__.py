"""CRYCHIC: PoseConv3D skeleton heatmaps guide a light RGB student for action recognition.

The library is pure and importable: data formats, heatmaps, models, losses, metrics. DVC stages
(`stages/`) are thin command-line wrappers around it; `pipeline/` holds the Prefect fan-out.
"""

__version__ = "0.1.0"
