# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Churn retraining (流失预警模型重训)
#
# For data scientists: retrain the churn decision on a dataset with your own LightGBM settings, compare it with the
# baselines and the current champion on the same time-split holdout, and look at what drives the risk. The run goes
# through the same pipeline and champion gate as `shopsense train churn`, so a notebook experiment can never
# silently replace a better production model.
#
# Open it with `jupytext --to notebook notebooks/churn_retraining.py` or run it as a script.

# %% tags=["parameters"]
DATASET = "synthetic"  # any dataset ingested under SHOPSENSE_DATA_DIR
HORIZON_DAYS = 90  # churned = no order in the next H days
CLASSIFIER_PARAMS = {"num_leaves": 15, "n_estimators": 300, "learning_rate": 0.05}

# %%
import mlflow
import pandas as pd

from features.settings import get_settings
from training import pipeline, tracking

settings = get_settings()
tracking.configure(settings)
champion_before = tracking.champion_version(tracking.registered_name("churn", DATASET))
print("tracking store:", settings.tracking_uri, "| champion before:", champion_before)

# %% [markdown]
# ## Train, evaluate against the baselines, register
# Metrics are on the test cutoff (the latest month whose 90-day window is fully observed).

# %%
result = pipeline.train_churn(
    DATASET, horizon_days=HORIZON_DAYS, settings=settings, classifier_params=CLASSIFIER_PARAMS
)
table = pd.DataFrame({"lightgbm": result.metrics, **result.baselines}).T
table[["roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_at_10"]].round(4)

# %% [markdown]
# ## Did it become champion?

# %%
gate = result.extra["gate"]
print(f"version {result.version} -> @{result.alias}; champion score before: {gate['champion_score']}")
assert result.metrics["roc_auc"] > max(b["roc_auc"] for b in result.baselines.values()), "model must beat baselines"

# %% [markdown]
# ## What drives risk: reasons for the riskiest users in the holdout

# %%
from training.customer_data import load_customer_dataset
from training.datasets import LabelConfig

data = load_customer_dataset(settings.dataset(DATASET), LabelConfig(horizon_days=HORIZON_DAYS), settings)
test = data.part("test")
model = mlflow.pyfunc.load_model(f"models:/{result.model_name}/{result.version}")
decisions = model.predict(
    test[data.feature_names].astype("float64").assign(user_id=test["user_id"]), params={"explain": True}
)
decisions.sort_values("value_at_risk", ascending=False).head(5)[
    ["user_id", "churn_probability", "risk_band", "value_at_risk", "recall_label_zh", "reasons"]
]
