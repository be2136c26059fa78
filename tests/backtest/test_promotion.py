"""The promotion rule on bands whose quality is known: a random walk with a constant daily
volatility, the reference band the exact 80% band of it, and challengers whose bands are that one
scaled wider or narrower. Interval scores are computed as `make retrain` computes them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from stockcast.backtest.promotion import (
    CHAMPION_BASIS,
    REFERENCE,
    PromotionRule,
    decision_markdown,
    pooled,
    scored,
    worse_p_value,
)
from stockcast.evaluation.references import Band

DAYS, LEVEL, SIGMA = 250, 0.8, 0.012
STEP = 1.009  # each challenger's band this much wider than the champion's
RULE = PromotionRule(
    interval_score_tolerance=0.01,
    rel_mae_tolerance=0.005,
    min_days=20,
    significance=0.05,
    reference_margin=0.05,
)


@pytest.fixture(scope="module")
def prices() -> tuple[np.ndarray, np.ndarray]:
    """(last close [n], the next close [n, 1]) of a random walk in log prices."""
    rng = np.random.default_rng(7)
    closes = 100 * np.exp(np.cumsum(rng.normal(0.0, SIGMA, DAYS + 1)))
    return closes[:-1], closes[1:, None]


def band(last_close: np.ndarray, width: float) -> Band:
    """The last close with the exact 80% band of the walk, scaled by `width`."""
    half = width * norm.ppf(0.5 + LEVEL / 2) * SIGMA
    last = last_close[:, None]
    return Band("band", LEVEL, last, last * np.exp(-half), last * np.exp(half))


def comparison(
    prices: tuple[np.ndarray, np.ndarray], champion: float, challenger: float
) -> dict[str, Any]:
    """Champion, challenger and reference (width 1) scored on the same days, as `compare` does."""
    last_close, actual = prices
    bands = {
        "champion": band(last_close, champion),
        "challenger": band(last_close, challenger),
        REFERENCE: band(last_close, 1.0),
    }
    return {"days": DAYS, **scored(last_close, actual, bands)}


def test_slightly_worse_challengers_in_a_row_cannot_walk_the_served_quality_past_the_bound(
    prices,
):
    """Each challenger's band is 0.9% wider than the champion's, its interval score at most 0.9%
    higher: inside the tolerance against the champion every time, so a rule that only compared
    with the champion promotes all of them and the served score walks away. The reference does
    not move, so the served interval score stops within its margin of it."""
    served, without_reference = 1.0, 1.0
    lenient = PromotionRule(0.01, 0.005, 20, significance=0.05, reference_margin=np.inf)
    reference = comparison(prices, 1.0, 1.0)[REFERENCE]["winkler"]
    bound = reference * (1 + RULE.reference_margin)
    promotions = 0
    for _ in range(100):
        judged = comparison(prices, served, served * STEP)
        assert judged["challenger"]["winkler"] <= judged["champion"]["winkler"] * 1.01
        if not RULE.objections(judged):
            served *= STEP
            promotions += 1
        assert comparison(prices, served, served)["champion"]["winkler"] <= bound
        if not lenient.objections(comparison(prices, without_reference, without_reference * STEP)):
            without_reference *= STEP

    assert promotions > 0  # the first few steps are inside the margin and are promoted
    [objection] = RULE.objections(comparison(prices, served, served * STEP))
    assert "GARCH(1,1)-t reference" in objection
    # the same sequence judged against the champion alone drifts far past the bound
    assert comparison(prices, without_reference, 1.0)["champion"]["winkler"] > 1.5 * bound


def test_a_clearly_better_challenger_is_promoted(prices):
    judged = comparison(prices, champion=1.6, challenger=1.0)
    assert judged["challenger"]["winkler"] < 0.9 * judged["champion"]["winkler"]
    assert RULE.objections(judged) == []


def test_a_difference_inside_the_tolerance_never_objects_however_consistent(prices):
    """A band 0.5% wider than a too-wide champion's scores worse on nearly every day: the test
    without the floor calls it significant, but it is inside the 1% tolerance."""
    judged = comparison(prices, champion=1.5, challenger=1.5 * 1.005)
    daily = judged["daily"]
    assert worse_p_value(daily["challenger"]["winkler"], daily["champion"]["winkler"], 1) < 1e-6
    assert judged["challenger"]["winkler"] < judged["champion"]["winkler"] * 1.01
    # the only objection left is the reference's: the champion itself is too wide for it
    [objection] = RULE.objections(judged)
    assert "GARCH(1,1)-t reference" in objection


def test_a_challenger_significantly_worse_than_the_champion_is_kept_out_and_told_why(
    prices,
):
    judged = comparison(prices, champion=1.0, challenger=1 / 3)  # a band a third as wide
    objections = RULE.objections(judged)
    against_champion = [o for o in objections if "significantly above the champion's" in o]
    assert against_champion and against_champion[0].startswith("interval score")
    assert "Diebold-Mariano p = " in against_champion[0]


def test_too_few_unseen_days_is_no_decision(prices):
    judged = {**comparison(prices, 1.0, 0.5), "days": 5}
    [few] = RULE.objections(judged)
    assert "only 5 day(s)" in few


# --- several tickers: pooled and each -----------------------------------------------------------

TICKERS = {"AAA": 7, "BBB": 8, "CCC": 9, "DDD": 10}  # name: the seed of its random walk


def walk(seed: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    closes = scale * np.exp(np.cumsum(rng.normal(0.0, SIGMA, DAYS + 1)))
    return closes[:-1], closes[1:, None]


def ticker_comparison(seed: int, champion: float, challenger: float) -> dict[str, Any]:
    """One ticker's figures as `compare_ticker` gives them, on the same business days as the
    others (prices of very different levels: the pooled series must not care)."""
    last_close, actual = walk(seed, scale=10.0**seed / 1e6)
    bands = {
        "champion": band(last_close, champion),
        "challenger": band(last_close, challenger),
        REFERENCE: band(last_close, 1.0),
    }
    found = {"days": DAYS, "unseen_after": "2020-12-31", **scored(last_close, actual, bands)}
    dates = pd.bdate_range("2021-01-01", periods=DAYS).strftime("%Y-%m-%d").tolist()
    found["daily"]["date"] = dates
    return {**found, "first_day": dates[0], "last_day": dates[-1]}


def universe(champion: float, challenger: dict[str, float]) -> dict[str, Any]:
    """`compare`'s result for the tickers, the challenger's band width per ticker."""
    tickers = {
        name: ticker_comparison(seed, champion, challenger[name]) for name, seed in TICKERS.items()
    }
    return {"basis": CHAMPION_BASIS, **pooled(tickers), "tickers": tickers}


def test_the_pooled_series_weighs_every_ticker_alike_whatever_its_price():
    judged = universe(1.0, dict.fromkeys(TICKERS, 1.0))
    per_ticker = [t["challenger"]["winkler"] / t["naive_mae"] for t in judged["tickers"].values()]
    assert judged["days"] == DAYS and judged["naive_mae"] == 1.0
    assert judged["challenger"]["winkler"] == pytest.approx(np.mean(per_ticker), rel=1e-9)
    assert judged["challenger"]["rel_mae"] == pytest.approx(1.0)  # the point is the naive one


def test_a_challenger_much_worse_on_one_ticker_is_kept_out_and_the_ticker_named():
    """Better by a little on three tickers, far too narrow on one: the pooled figures may hide
    it, the ticker's own test does not."""
    judged = universe(1.0, {"AAA": 0.98, "BBB": 0.98, "CCC": 0.98, "DDD": 1 / 3})
    objections = RULE.objections(judged)
    assert any(o.startswith("interval score") and "on DDD" in o for o in objections)
    assert not any("on AAA" in o or "on BBB" in o or "on CCC" in o for o in objections)
    assert all("Holm-adjusted over 10 tests" in o for o in objections if "Diebold" in o)


def test_a_challenger_better_on_every_ticker_is_promoted_and_the_table_shows_each():
    judged = universe(1.6, dict.fromkeys(TICKERS, 1.0))
    assert RULE.objections(judged) == []
    tests = RULE.tests(judged)
    assert set(tests) == {
        f"{s}/{loss}" for s in ("pooled", *TICKERS) for loss in ("winkler", "rel_mae")
    }
    assert all(test["p_holm"] >= test["p_value"] for test in tests.values())
    decision = {
        "champion": "v1",
        "challenger": "v2",
        "promoted": True,
        "objections": [],
        "rule": RULE.statement(),
        "comparison": judged,
    }
    table = decision_markdown(decision)
    assert all(f"| {name} | {DAYS} |" in table for name in TICKERS)
    assert "| pooled (per naive MAE) |" in table and "**promoted**" in table
