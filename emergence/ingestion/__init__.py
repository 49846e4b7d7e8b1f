"""Data in: the input formats' parsers (sources/), the catalogue, fetching, the curated sizes, ingest."""
