"""The demand decision's names that its model, its training spec and the service share.

Why a module of its own: the service's BentoML arbiter imports every decision's spec for the routes and never
forecasts; a spec reading these names from :mod:`models.demand_decision` loaded mlforecast, statsforecast and
statsmodels there (about 3 s of every service start).
"""

from __future__ import annotations

OK, UNKNOWN, NOT_FORECAST = "ok", "unknown_sku", "not_forecast"  # per-SKU statuses of an answer
FORECAST, POLICY = "forecast", "policy"  # the model's two actions (routes /demand/forecast, /inventory/policy)
FEATURE_SERVICE = "demand_v1"
