"""Customer lifetime value: BG/NBD purchases and Gamma-Gamma spend, fitted by maximum likelihood.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive, a
customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each purchase they
drop out with probability p ~ Beta(a, b). A customer is summarised by ``x`` (repeat purchases:
distinct purchase days after the first), ``t_x`` (time of the last purchase since the first) and
``T`` (time from the first purchase to the end of the calibration period), in one time unit.

Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie note 025): the value of a
customer's transactions is Gamma(p, nu) with nu ~ Gamma(q, gamma), independent of the purchase
process; it is fitted on ``zbar``, the mean value of the repeat purchases of customers with x > 0.

Both are fitted on log-parameters with L-BFGS-B and analytic gradients (Nelder-Mead takes over
if it stops short); identical customers are fitted once with a weight. The trainer
(``portrait.models.clv.train``) reads the workspace's orders, fits both models on the
calibration period, scores the held-out period after it, and writes the model tags
``predicted_clv`` and ``expected_purchases_90d``.

The package: ``fitting`` (maximum likelihood), ``bgnbd`` and ``gamma_gamma`` (the models, pure
math), ``summary`` (customers from transactions), ``evaluate`` (holdout metrics) and ``train``
(the trainer, which alone reads the warehouse, through ``portrait.store.models``).

>>> bg = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
>>> round(float(bg.conditional_expected_purchases(39, 2, 30.43, 38.86)), 3)
1.226
"""

from portrait.models.clv.bgnbd import (
    BGNBDParams,
    bgnbd_log_likelihood,
    fit_bgnbd,
    simulate_bgnbd,
)
from portrait.models.clv.evaluate import calibration_table, holdout_metrics
from portrait.models.clv.fitting import ClvError
from portrait.models.clv.gamma_gamma import (
    GammaGammaParams,
    customer_lifetime_value,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    simulate_gamma_gamma,
)
from portrait.models.clv.summary import rfm_summary
from portrait.models.clv.train import order_days, parse_day

__all__ = [
    "BGNBDParams",
    "ClvError",
    "GammaGammaParams",
    "bgnbd_log_likelihood",
    "calibration_table",
    "customer_lifetime_value",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "gamma_gamma_log_likelihood",
    "holdout_metrics",
    "order_days",
    "parse_day",
    "rfm_summary",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
]
