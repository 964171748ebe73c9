"""Ingestion: sources, validation and cleaning, quarantine reasons."""
