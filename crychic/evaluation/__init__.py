"""Stage `evaluate`: scoring on val then test, statistics, inference cost and the end-to-end paths."""
