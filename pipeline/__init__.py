"""Orchestration: Prefect flows that fan per-sample preprocessing out to local or Dask workers."""
