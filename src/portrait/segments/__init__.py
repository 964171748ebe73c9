"""Segments: boolean expressions over tags, evaluated on a roaring-bitmap index."""
