"""One thin command-line entry point per DVC stage: read params, call `crychic`, write outputs."""
