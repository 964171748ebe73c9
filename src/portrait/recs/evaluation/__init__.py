"""Offline evaluation of recommenders on real data with a fixed temporal protocol (docs/recs.md)."""
