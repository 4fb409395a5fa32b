"""MLflow runs and the pictures logged to them (training curves, overlays, confusion matrices)."""
