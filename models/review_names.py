"""The review-authenticity decision's names that its model, its training spec and the service share.

Why a module of its own: the service's BentoML arbiter imports every decision's spec for the routes and never
scores a review; a spec reading these names from :mod:`models.review_decision` loaded LightGBM and scikit-learn there.
"""

from __future__ import annotations

OK, UNKNOWN = "ok", "unknown_review"  # per-review statuses of an answer
FEATURE_SERVICE = "reviews_v1"
LABEL = "is_fake_verdict"  # moderators' verdict on a review, the column the model learns from
