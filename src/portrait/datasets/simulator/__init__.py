"""The demo-shop simulator: a realistic e-commerce shop whose users have known latent traits.

``simulate`` writes canonical users, products and events Parquet files plus ground-truth
tables (the traits and personas each user was generated from), so every tag, persona and model
can be scored against the truth. Personas are latent classes whose members behave clearly
differently (see ``population``); docs/simulator.md describes the generative model.
"""

from portrait.datasets.simulator.shop import DEFAULT_START, simulate

__all__ = ["DEFAULT_START", "simulate"]
