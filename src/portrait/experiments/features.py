"""Profile tags as the feature matrix of an uplift model.

Product code (uplift targeting, ``campaign_uplift``) and the closed-loop simulator's benchmark
both learn from the same features, so they are made here, in product code: the simulator may
import product code, never the reverse.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: categorical tags one-hot encoded for the uplift model (the numeric and bool tags are all used)
CATEGORICAL_TAGS = (
    "lifecycle_stage",
    "main_persona",
    "price_band",
    "rfm_segment",
    "value_tier",
    "preferred_message_channel",
)
LATE = 9999.0  # "days since" when it never happened


def feature_matrix(profiles: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Numeric and bool profile tags plus one-hot ``CATEGORICAL_TAGS``: a float matrix without
    gaps (a missing "days since" is ``LATE``, any other missing number 0)."""
    columns: dict[str, np.ndarray] = {}
    for name in profiles.columns:
        col = profiles[name]
        if name == "person_id" or pd.api.types.is_datetime64_any_dtype(col):
            continue
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            values = pd.to_numeric(col, errors="coerce").astype("float64")
        elif col.dtype == object and col.dropna().map(type).eq(bool).all() and col.notna().any():
            values = col.map({True: 1.0, False: 0.0}).astype("float64")
        else:
            continue
        fill = LATE if name.startswith("days_") else 0.0
        columns[name] = values.fillna(fill).to_numpy()
    for name in CATEGORICAL_TAGS:
        if name not in profiles:
            continue
        values = profiles[name].astype("string").fillna("(none)")
        for level in sorted(values.unique()):
            columns[f"{name}={level}"] = (values == level).to_numpy(dtype=np.float64)
    names = list(columns)
    return np.column_stack([columns[n] for n in names]), names


__all__ = ["CATEGORICAL_TAGS", "LATE", "feature_matrix"]
