"""Stage `ingest`: dataset layouts (NTU RGB+D, folder-per-class, the built-in synthetic benchmark) -> manifest."""
