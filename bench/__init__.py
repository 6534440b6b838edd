"""The benchmark: pipeline, tables, ablations, reports."""
