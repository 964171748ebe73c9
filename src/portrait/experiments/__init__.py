"""Experiment statistics, uplift modelling and bandits (issue 6): pure functions and models that
campaign reports, `portrait experiment ...` and the marketing-policy benchmark share."""
