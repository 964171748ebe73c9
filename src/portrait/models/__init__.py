"""Predictive models that write model tags: churn, propensity, CLV, next purchase."""
