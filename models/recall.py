"""召回 (recall / win-back) actions as a rules table: user tier x churn risk band -> what operations do.

The handbooks' playbook (VIP care and large coupons for high-value users, targeted coupons for potential
high-value users, personalised pushes for active users, low-cost wake-up SMS for lost users) as data, so operations
can replace it with their own YAML/JSON table without a code change. ``"*"`` is a wildcard; the most specific rule
wins, an exact tier counting more than an exact band (a tier's campaign is the more deliberate choice).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from models.risk import BANDS, RiskThresholds, band_reason
from models.tiering import TIERS

WILDCARD = "*"


@dataclass(frozen=True)
class RecallRule:
    """One row of the table: for users of ``tier`` in risk ``band``, do ``action`` through ``channel``."""

    tier: str
    band: str
    action: str
    label_zh: str
    label_en: str
    channel: str


def _rule(tier: str, band: str, action: str, zh: str, en: str, channel: str) -> RecallRule:
    return RecallRule(tier, band, action, zh, en, channel)


_NONE = ("none", "无需干预", "no action", "none")
_PUSH = ("personalized_push", "个性化推荐推送", "personalised recommendation push", "app_push")
_COUPON = ("targeted_coupon", "定向优惠券", "targeted coupon", "app_push")
_VIP = ("vip_care_large_coupon", "VIP 专属客服关怀 + 大额券", "VIP service call + large coupon", "phone")
_RETAIN = ("care_call_retention_coupon", "专属客服回访 + 挽留券", "service call + retention coupon", "phone")

DEFAULT_RULES: tuple[RecallRule, ...] = (
    # Tier-agnostic fallbacks (also used when the tier is unknown: tier "*").
    _rule(WILDCARD, "low", *_NONE),
    _rule(WILDCARD, "medium", *_PUSH),
    _rule(WILDCARD, "high", *_COUPON),
    _rule(WILDCARD, "critical", *_COUPON),
    # 高价值: protect revenue first.
    _rule("high_value", "medium", "exclusive_coupon", "专属优惠券", "exclusive coupon", "app_push"),
    _rule("high_value", "high", *_VIP),
    _rule("high_value", "critical", *_VIP),
    # 潜在高价值: precise pushes and coupons to convert.
    _rule(
        "potential_high_value", "medium", "new_arrivals_push", "新品/优惠信息精准推送", "new-arrivals push", "app_push"
    ),
    _rule("potential_high_value", "high", *_COUPON),
    _rule("potential_high_value", "critical", *_COUPON),
    # 活跃: keep them engaged.
    _rule("active", "medium", *_PUSH),
    # 新用户: guidance to a second order.
    _rule("new", "medium", "onboarding_guide", "新人引导 + 新人券", "onboarding guide + welcome coupon", "app_push"),
    _rule("new", "high", "welcome_coupon", "新人专享券", "first-repeat coupon", "sms"),
    _rule("new", "critical", "welcome_coupon", "新人专享券", "first-repeat coupon", "sms"),
    # 流失风险: care and retention offers.
    _rule("at_risk", "medium", "care_reminder", "关怀提醒", "care reminder", "app_push"),
    _rule("at_risk", "high", "retention_coupon", "挽留优惠券", "retention coupon", "sms"),
    _rule("at_risk", "critical", *_RETAIN),
    # 已流失: cheap wake-up only, whatever the band.
    _rule("lost", WILDCARD, "wakeup_sms", "唤醒短信", "low-cost wake-up SMS", "sms"),
)


def _specificity(rule: RecallRule) -> int:
    return 2 * (rule.tier != WILDCARD) + (rule.band != WILDCARD)


def recall_action(tier: str, band: str, rules: Iterable[RecallRule] = DEFAULT_RULES) -> RecallRule:
    """The most specific rule matching (tier, band); ``tier="*"`` asks for the tier-agnostic rule.

    Raises:
        ValueError: unknown tier or band.
        LookupError: no rule matches (a table from :func:`rules_from_records` is checked for this up front).
    """
    _check_value("tier", tier, (*TIERS, WILDCARD))
    _check_value("band", band, BANDS)
    matches = [r for r in rules if r.tier in (tier, WILDCARD) and r.band in (band, WILDCARD)]
    if not matches:
        raise LookupError(f"no recall rule for tier={tier!r}, band={band!r}")
    return max(matches, key=_specificity)


def explain_action(probability: float, band: str, tier: str, rule: RecallRule, thresholds: RiskThresholds) -> str:
    """The band and the action of one user in one line, e.g. for the ``rule`` field of a churn response.

    "P(churn) 0.82 >= 0.78: churn odds >= 1.5x the shop's (this shop's churn rate 0.70) -> high; tier active x high
    -> targeted_coupon (rule active/*)" names the numbers behind the band and the table row that chose the action.
    """
    why = band_reason(float(probability), band, thresholds)
    return f"{why} -> {band}; tier {tier} x {band} -> {rule.action} (rule {rule.tier}/{rule.band})"


def _check_value(kind: str, value: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; expected one of {', '.join(allowed)}")


def _from_record(i: int, record: dict[str, Any]) -> RecallRule:
    names = [f.name for f in fields(RecallRule)]
    missing = [n for n in names if not str(record.get(n) or "").strip()]
    extra = sorted(set(record) - set(names))
    if missing or extra:
        raise ValueError(f"recall rule #{i}: missing/empty {missing or '-'}, unknown keys {extra or '-'}")
    rule = RecallRule(**{n: str(record[n]).strip() for n in names})
    _check_value("tier", rule.tier, (*TIERS, WILDCARD))
    _check_value("band", rule.band, (*BANDS, WILDCARD))
    return rule


def rules_from_records(records: list[dict[str, Any]], require_complete: bool = True) -> tuple[RecallRule, ...]:
    """Rules from plain records (a parsed YAML/JSON table), validated.

    Raises:
        ValueError: a missing/unknown key, an unknown tier or band (named), two rules for the same (tier, band),
            or (``require_complete``) a tier x band pair, including tier "*", that no rule covers.
    """
    rules = tuple(_from_record(i, dict(r)) for i, r in enumerate(records))
    seen: set[tuple[str, str]] = set()
    for rule in rules:
        key = (rule.tier, rule.band)
        if key in seen:
            raise ValueError(f"duplicate recall rule for tier={rule.tier!r}, band={rule.band!r}")
        seen.add(key)
    if require_complete:
        gaps = [f"({t}, {b})" for t in (*TIERS, WILDCARD) for b in BANDS if not _covered(t, b, rules)]
        if gaps:
            raise ValueError(f"recall rules leave uncovered: {', '.join(gaps)}")
    return rules


def _covered(tier: str, band: str, rules: tuple[RecallRule, ...]) -> bool:
    try:
        recall_action(tier, band, rules)
    except LookupError:
        return False
    return True
