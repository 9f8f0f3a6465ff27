"""Exporting a run: the machinery every exporter shares (checks, verification, publishing), its options, and the check of each file as its runner reads it."""
