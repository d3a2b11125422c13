"""Recall rules: most specific rule wins, every tier x band is covered, bad tables are rejected with names."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from models.recall import DEFAULT_RULES, RecallRule, explain_action, recall_action, rules_from_records
from models.risk import BANDS, RiskThresholds
from models.tiering import TIERS

pytestmark = pytest.mark.unit

RECORDS = [asdict(r) for r in DEFAULT_RULES]


def test_every_tier_and_band_is_covered() -> None:
    for tier in (*TIERS, "*"):
        for band in BANDS:
            rule = recall_action(tier, band)
            assert rule.action and rule.label_zh and rule.label_en and rule.channel


def test_handbook_actions() -> None:
    assert recall_action("high_value", "critical").label_zh.startswith("VIP")
    assert recall_action("potential_high_value", "high").label_zh == "定向优惠券"
    assert recall_action("active", "medium").label_zh == "个性化推荐推送"
    assert recall_action("lost", "high").action == "wakeup_sms"
    assert recall_action("active", "low").action == "none"


def test_most_specific_rule_wins() -> None:
    rules = (
        RecallRule("*", "*", "any", "任何", "any", "none"),
        RecallRule("*", "high", "band", "档", "band", "push"),
        RecallRule("active", "*", "tier", "层", "tier", "push"),
        RecallRule("active", "high", "both", "都", "both", "push"),
    )
    assert recall_action("active", "high", rules).action == "both"
    assert recall_action("active", "low", rules).action == "tier"
    assert recall_action("new", "high", rules).action == "band"
    assert recall_action("new", "low", rules).action == "any"
    assert recall_action("*", "high", rules).action == "band"
    assert recall_action("active", "high", rules[:3]).action == "tier"


def test_records_round_trip() -> None:
    assert rules_from_records(RECORDS) == DEFAULT_RULES


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tier": "whales"}, "whales"),
        ({"band": "extreme"}, "extreme"),
        ({"channel": ""}, "channel"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_records_are_rejected(change: dict[str, str], message: str) -> None:
    records = [dict(RECORDS[0], **change), *RECORDS[1:]]
    with pytest.raises(ValueError, match=message):
        rules_from_records(records)


def test_duplicates_and_gaps_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        rules_from_records([*RECORDS, RECORDS[-1]])
    no_fallback = [r for r in RECORDS if r["tier"] != "*"]
    with pytest.raises(ValueError, match=r"uncovered: \(high_value, low\)"):
        rules_from_records(no_fallback)
    assert len(rules_from_records(no_fallback, require_complete=False)) == len(no_fallback)
    with pytest.raises(LookupError):
        recall_action("active", "low", rules_from_records(no_fallback, require_complete=False))


def test_unknown_lookup_is_named() -> None:
    with pytest.raises(ValueError, match="vip"):
        recall_action("vip", "high")
    with pytest.raises(ValueError, match="severe"):
        recall_action("active", "severe")


def test_explained_action_names_band_numbers_and_table_row() -> None:
    thresholds = RiskThresholds(0.54, 0.78, 0.93, base_rate=0.7, critical_share=0.1)
    rule = recall_action("active", "high")
    line = explain_action(0.82, "high", "active", rule, thresholds)
    assert line.startswith("P(churn) 0.82 >= 0.78: churn odds >= 1.5x the shop's (this shop's churn rate 0.70)")
    assert line.endswith(f"tier active x high -> {rule.action} (rule {rule.tier}/{rule.band})")
