"""`portrait experiment size | ab | bandit` through Typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from portrait.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["experiment", *args], env={"COLUMNS": "200"})


def flat(text: str) -> str:
    return " ".join(text.split())


def test_size_known_answer_words_table_and_json() -> None:
    r = run("size", "--baseline", "0.20", "--target", "0.25")
    assert r.exit_code == 0, r.output
    assert "needs 1,030 users in control and 1,030 in treatment, 2,060 in total" in flat(r.stdout)
    assert "Sample size" in r.stdout
    j = json.loads(run("size", "--baseline", "0.2", "--target", "0.25", "--json").stdout)
    assert (j["control"], j["treatment"], j["total"]) == (1030, 1030, 2060)
    one = json.loads(
        run("size", "--baseline", "0.2", "--target", "0.25", "--one-sided", "--json").stdout
    )
    assert one["control"] < 1030 and one["two_sided"] is False
    means = json.loads(run("size", "--sd", "10", "--mde", "1", "--json").stdout)
    assert means["control"] == 1570


def test_ab_means_known_answer() -> None:
    r = run("ab", "--control", "3407,0.41,3.9", "--treatment", "3461,0.7,6.2")
    assert r.exit_code == 0, r.output
    text = flat(r.stdout)
    assert "95% CI [0.04538, 0.53462], p = 0.02016: significant" in text
    assert "chance to beat control 99.0%" in text
    j = json.loads(
        run("ab", "--control", "3407,0.41,3.9", "--treatment", "3461,0.7,6.2", "--json").stdout
    )
    f = j["comparisons"][0]["frequentist"]
    assert j["metric"] == "mean" and round(f["p_value"], 5) == 0.02016
    assert j["srm"]["mismatch"] is False


def test_ab_conversions_abn_and_srm() -> None:
    r = run(
        "ab",
        "--control",
        "200/1000",
        "--treatment",
        "250/1000",
        "--treatment",
        "205/1010",
        "--json",
    )
    assert r.exit_code == 0, r.output
    j = json.loads(r.stdout)
    assert [a["name"] for a in j["arms"]] == ["control", "treatment1", "treatment2"]
    assert j["comparisons"][0]["frequentist"]["p_value"] < 0.01
    assert j["comparisons"][1]["bayesian"]["chance_to_beat_control"] < 0.8
    srm = run("ab", "--control", "200/1000", "--treatment", "250/1400")
    assert "Sample ratio mismatch" in flat(srm.stdout)
    planned = run("ab", "--control", "200/1000", "--treatment", "250/1400", "--split", "5,7")
    assert "arm sizes match the planned split" in flat(planned.stdout)


def test_bandit_prints_regrets() -> None:
    r = run("bandit", "--rates", "0.04,0.05,0.06", "--batches", "20", "--batch-size", "500")
    assert r.exit_code == 0, r.output
    text = flat(r.stdout)
    assert "Regret against always sending the best offer (C)" in text
    assert "an equal split loses 100.0" in text
    j = json.loads(run("bandit", "--rates", "0.04,0.05,0.06", "--seed", "4", "--json").stdout)
    assert j["regret"] < j["equal_split_regret"] and len(j["shares"]) == 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["size", "--baseline", "20", "--target", "25"], "give a rate between 0 and 1"),
        (["size", "--baseline", "0.2"], "give both --baseline and --target"),
        (["size"], "or --sd and --mde"),
        (["size", "--baseline", "0.2", "--target", "0.2"], "target must differ from baseline"),
        (["ab", "--control", "2x/10", "--treatment", "1/10"], "--control"),
        (["ab", "--control", "1,2", "--treatment", "1/10"], "USERS,MEAN,SD"),
        (["ab", "--control", "20/10", "--treatment", "1/10"], "more conversions than users"),
        (["ab", "--control", "2/10", "--treatment", "5,1,1"], "give every arm as"),
        (["ab", "--control", "2/10", "--treatment", "3/10", "--split", "50"], "--split"),
        (["bandit", "--rates", "0.05"], "at least two rates"),
        (["bandit", "--rates", "a,b"], "comma-separated numbers"),
    ],
)
def test_bad_input_names_the_option_and_the_fix(args: list[str], message: str) -> None:
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert flat(message) in flat(r.output.replace("│", " ")), r.output
