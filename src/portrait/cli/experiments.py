"""`portrait experiment ...`: sample sizes, A/B statistics and bandits; the uplift benchmark
comes from ``portrait.cli.uplift``, added to ``experiment_app`` below."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from portrait.cli.common import JsonOpt, friendly_errors, out, print_json
from portrait.cli.uplift import uplift_app
from portrait.experiments import abtest, stats
from portrait.experiments.bandit import simulate_bandit
from portrait.experiments.results import (
    AbAnalysis,
    BanditReportPublic,
    MeanArm,
    ProportionArm,
    SampleSizePublic,
)

experiment_app = typer.Typer(
    help="Experiments: sample-size planning, A/B statistics, uplift models, bandits.",
    no_args_is_help=True,
)
experiment_app.add_typer(uplift_app)  # `portrait experiment uplift`

ARM_FORMS = "CONVERSIONS/USERS (e.g. 200/1000) or USERS,MEAN,SD (e.g. 3407,0.41,3.9)"


def parse_arm(option: str, text: str) -> stats.PropStats | stats.MeanStats:
    """An arm given on the command line: ``200/1000`` (conversions) or ``3407,0.41,3.9``."""
    t = text.strip()
    try:
        if "/" in t:
            conv, users = (int(p) for p in t.split("/"))
            return stats.PropStats(users, conv)
        parts = t.split(",")
        if len(parts) == 3:
            n, mean, sd = int(parts[0]), float(parts[1]), float(parts[2])
            return stats.MeanStats.from_sd(n, mean, sd)
    except ValueError as e:
        reason = str(e) if "invalid literal" not in str(e) else "not numbers"
        raise typer.BadParameter(
            f"{text!r}: {reason}; give {ARM_FORMS}", param_hint=option
        ) from None
    raise typer.BadParameter(f"{text!r}: give {ARM_FORMS}", param_hint=option)


def parse_floats(option: str, text: str, example: str) -> list[float]:
    try:
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: give comma-separated numbers, e.g. {example}", param_hint=option
        ) from None


def _pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x * 100:.{digits}f}%"


def _num(x: float | None, digits: int = 5) -> str:
    return "-" if x is None else f"{x:.{digits}g}" if abs(x) >= 1e5 else f"{x:.{digits}f}"


# --- size ----------------------------------------------------------------------------------


@experiment_app.command("size")
@friendly_errors
def size(
    baseline: Annotated[
        float | None, typer.Option(help="Control conversion rate, e.g. 0.20.")
    ] = None,
    target: Annotated[
        float | None, typer.Option(help="Treatment rate worth detecting, e.g. 0.25.")
    ] = None,
    sd: Annotated[
        float | None, typer.Option(help="Numeric metric: its standard deviation (with --mde).")
    ] = None,
    mde: Annotated[
        float | None, typer.Option(help="Numeric metric: smallest absolute difference (with --sd).")
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    power: Annotated[float, typer.Option(help="Chance to detect the effect if it is real.")] = 0.8,
    one_sided: Annotated[bool, typer.Option("--one-sided", help="One-sided test.")] = False,
    ratio: Annotated[float, typer.Option(help="Treatment users per control user.")] = 1.0,
    as_json: JsonOpt = False,
) -> None:
    """Users needed per arm to detect a change in a conversion rate (--baseline, --target)
    or in a numeric metric (--sd, --mde)."""
    if baseline is not None or target is not None:
        if baseline is None or target is None:
            missing = "--target" if target is None else "--baseline"
            raise typer.BadParameter("give both --baseline and --target", param_hint=missing)
        for name, v in (("--baseline", baseline), ("--target", target)):
            if not 0 < v < 1:
                raise typer.BadParameter(
                    f"{v}: give a rate between 0 and 1, e.g. 0.20 for 20%", param_hint=name
                )
        res = stats.sample_size_proportions(baseline, target, alpha, power, not one_sided, ratio)
        what = (
            f"Detecting a conversion rate moving from {_pct(baseline, 1)} to {_pct(target, 1)} "
            f"({(target - baseline) * 100:+.1f} points, {(target / baseline - 1) * 100:+.1f}% "
            "relative)"
        )
    elif sd is not None and mde is not None:
        res = stats.sample_size_means(sd, mde, alpha, power, not one_sided, ratio)
        what = f"Detecting a difference of {mde:g} in a metric with standard deviation {sd:g}"
    else:
        raise typer.BadParameter(
            "give --baseline and --target (conversion rates, e.g. --baseline 0.20 --target 0.25)"
            " or --sd and --mde (a numeric metric)",
            param_hint="--baseline",
        )
    if as_json:
        print_json(SampleSizePublic.of(res, baseline=baseline, target=target, sd=sd))
        return
    sides = "one-sided" if one_sided else "two-sided"
    out.print(
        f"{what} at alpha {alpha:g} ({sides}) with {power:.0%} power needs "
        f"{res.control:,} users in control and {res.treatment:,} in treatment, "
        f"{res.total:,} in total.",
        highlight=False,
    )
    t = Table(title="Sample size")
    t.add_column("arm")
    t.add_column("users", justify="right")
    t.add_row("control", f"{res.control:,}")
    t.add_row("treatment", f"{res.treatment:,}")
    t.add_row("total", f"{res.total:,}")
    out.print(t)


# --- ab ------------------------------------------------------------------------------------


@experiment_app.command("ab")
@friendly_errors
def ab(
    control: Annotated[str, typer.Option(help=f"Control arm: {ARM_FORMS}.")],
    treatment: Annotated[
        list[str], typer.Option(help="Treatment arm, same form; repeat for A/B/n.")
    ],
    split: Annotated[
        str | None,
        typer.Option(help="Planned split for the SRM check, control first, e.g. 50,50."),
    ] = None,
    alpha: Annotated[
        float, typer.Option(help="Significance level (credibility 1 - alpha).")
    ] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the posterior draws (lift interval).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Compare treatment(s) with control from per-arm summaries: Welch t test (means) or
    two-proportion z test (conversions), Bayesian chance to beat control and expected loss,
    and a sample-ratio-mismatch check."""
    if not 0 < alpha < 1:
        raise typer.BadParameter(f"{alpha}: give a level between 0 and 1, e.g. 0.05", "--alpha")
    ctrl = parse_arm("--control", control)
    arms = [parse_arm("--treatment", t) for t in treatment]
    names = ["treatment"] if len(arms) == 1 else [f"treatment{i + 1}" for i in range(len(arms))]
    for name, arm in zip(names, arms, strict=True):
        if type(arm) is not type(ctrl):
            raise typer.BadParameter(
                f"the control is {abtest.metric_kind(ctrl)}s but {name} is "
                f"{abtest.metric_kind(arm)}s: give every arm as {ARM_FORMS.split(' or ')[0]} "
                f"or every arm as {ARM_FORMS.split(' or ')[1]}",
                param_hint="--treatment",
            )
    shares = None
    if split is not None:
        values = parse_floats("--split", split, "50,50")
        if len(values) != len(arms) + 1 or any(v <= 0 for v in values):
            raise typer.BadParameter(
                f"{split!r}: give {len(arms) + 1} positive shares, control first, e.g. "
                + ",".join(["50"] * (len(arms) + 1)),
                param_hint="--split",
            )
        shares = dict(zip(["control", *names], values, strict=True))
    result = abtest.analyze(
        ctrl, dict(zip(names, arms, strict=True)), alpha=alpha, expected_shares=shares, seed=seed
    )
    if as_json:
        print_json(result)
        return
    print_ab(result)


def _arm_row(arm: ProportionArm | MeanArm) -> list[str]:
    if isinstance(arm, ProportionArm):
        return [arm.name, f"{arm.n:,}", f"{arm.conversions:,}", _pct(arm.rate)]
    return [arm.name, f"{arm.n:,}", _num(arm.mean), _num(arm.sd)]


def print_ab(result: AbAnalysis) -> None:
    """The arms, each comparison with control and the SRM verdict, in words."""
    rate = result.metric == "proportion"
    t = Table(title="Arms")
    cols = ("arm", "users", "conversions", "rate") if rate else ("arm", "users", "mean", "sd")
    for c in cols:
        t.add_column(c, justify="left" if c == "arm" else "right")
    for arm in result.arms:
        t.add_row(*_arm_row(arm))
    out.print(t)
    level = 1 - result.alpha
    fmt = _pct if rate else _num

    def loss(x: float | None) -> str:
        return _pct(x, 3) if rate else _num(x)

    for comp in result.comparisons:
        f, b = comp.frequentist, comp.bayesian
        name = comp.treatment
        if f.error or f.p_value is None:
            out.print(f"{name}: no test ({f.error}).", highlight=False)
            continue
        test = "two-proportion z test" if rate else "Welch t test"
        verdict = "significant" if f.p_value < result.alpha else "not significant"
        out.print(
            f"{name} vs control ({test}): difference {fmt(f.difference)} "
            f"({_pct(f.relative_lift, 1)} relative), {level:.0%} CI "
            f"[{fmt(f.ci_low)}, {fmt(f.ci_high)}], p = {f.p_value:.5f}: {verdict}.",
            highlight=False,
        )
        if not b.error:
            out.print(
                f"  Bayesian: chance to beat control {_pct(b.chance_to_beat_control, 1)}; "
                f"expected loss choosing {name} {loss(b.expected_loss_treatment)}, "
                f"choosing control {loss(b.expected_loss_control)}; lift "
                f"{_pct(b.lift, 1)} [{_pct(b.lift_ci_low, 1)}, {_pct(b.lift_ci_high, 1)}].",
                highlight=False,
            )
    srm = result.srm
    if srm.error or srm.p_value is None:
        out.print(f"SRM check: not run ({srm.error}).")
    elif srm.mismatch:
        out.print(
            f"[bold red]Sample ratio mismatch[/]: p = {srm.p_value:.2g} < "
            f"{srm.threshold}: the split is not what was planned; do not trust these results.",
            highlight=False,
        )
    else:
        out.print(f"SRM check: p = {srm.p_value:.3f}, arm sizes match the planned split.")


# --- bandit --------------------------------------------------------------------------------


@experiment_app.command("bandit")
@friendly_errors
def bandit(
    rates: Annotated[
        str, typer.Option(help="True conversion rate of each offer, e.g. 0.04,0.05,0.06.")
    ],
    batches: Annotated[int, typer.Option(min=1, help="Batches of sends.")] = 50,
    batch_size: Annotated[int, typer.Option(min=1, help="Sends per batch.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Simulate a Thompson-sampling campaign over offers with known rates: regret against
    the best fixed offer and against an equal split."""
    values = parse_floats("--rates", rates, "0.04,0.05,0.06")
    if len(values) < 2 or any(not 0 <= v <= 1 for v in values):
        raise typer.BadParameter(
            f"{rates!r}: give at least two rates between 0 and 1, e.g. 0.04,0.05,0.06",
            param_hint="--rates",
        )
    report = simulate_bandit(values, batches, batch_size, seed)
    if as_json:
        print_json(BanditReportPublic.of(report))
        return
    t = Table(title=f"Thompson sampling: {batches} batches of {batch_size:,} sends (seed {seed})")
    for c in ("offer", "true rate", "sends", "share", "conversions", "posterior", "P(best)"):
        t.add_column(c, justify="left" if c == "offer" else "right")
    total = report.total_sends
    for arm in report.arms:
        t.add_row(
            arm,
            _pct(report.true_rates[arm]),
            f"{report.sends[arm]:,}",
            _pct(report.sends[arm] / total, 1),
            f"{report.successes[arm]:,}",
            _pct(report.posterior_means[arm]),
            f"{report.prob_best[arm]:.3f}",
        )
    out.print(t)
    out.print(
        f"Regret against always sending the best offer ({report.best_arm}): "
        f"{report.regret:,.1f} expected conversions lost of {report.best_fixed_conversions:,.0f}"
        f"; an equal split loses {report.equal_split_regret:,.1f} "
        f"(the bandit's regret is {report.regret_vs_equal_split:.1%} of that). It gains "
        f"{report.gain_vs_equal_split:,.1f} expected conversions over an equal split and sent "
        f"{report.best_arm_share:.1%} of all sends to the best offer.",
        highlight=False,
    )
