"""Offline evaluation of recommenders on real data with the temporal protocol of issue 5."""
