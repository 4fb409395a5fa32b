"""Dataset layouts that the ingest stage turns into a manifest: NTU RGB+D, folder-per-class, synthetic."""
