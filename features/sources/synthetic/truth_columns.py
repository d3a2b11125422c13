"""Column names of the ground-truth tables (``truth/``): what evaluations read, never features."""

from __future__ import annotations

# truth/users
IS_FAKE = "is_fake"
SEGMENT = "segment"
LATENT_VALUE = "latent_value"
PURCHASE_RATE = "purchase_rate"
PRICE_SENSITIVITY = "price_sensitivity"
BASE_HAZARD = "base_hazard"
TASTE_CLUSTER = "taste_cluster"
FRAUD_RING = "fraud_ring"
CHURNED_AT = "churned_at"
REACTIVATED_AT = "reactivated_at"
IS_CHURNED = "is_churned"
N_BAD_EXPERIENCES = "n_bad_experiences"

# truth/churn_hazard, truth/churn_events, truth/experiences
MONTH = "month"
HAZARD = "hazard"
EXPOSURE_DAYS = "exposure_days"
AT = "at"
EVENT = "event"
KIND = "kind"
WEIGHT = "weight"

# truth/reviews, truth/campaigns, truth/brushing_orders
CAMPAIGN_ID = "campaign_id"
CAMPAIGN_KIND = "campaign_kind"
LATE_DAYS = "late_days"
START_AT = "start_at"
N_REVIEWS = "n_reviews"
RING_ID = "ring_id"
TACTICS = "tactics"  # evasion tactics of a campaign, comma-separated (fraud.TACTIC_SHARE)

# truth/demand
TRUE_DEMAND = "true_demand"
OBSERVED_UNITS = "observed_units"
LOST_UNITS = "lost_units"
STOCKOUT = "stockout"
