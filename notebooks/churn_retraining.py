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
# For data scientists: retrain the churn decision (no order in the next 90 days) with your own
# LightGBM settings, compare it with the recency, RFM-logistic baselines and the current champion on the same time-split
# holdout, and look at what drives the prediction. The run goes through the same runner and champion gate as
# `shopsense train churn`, so an experiment here can never silently replace a better production model.
#
# **A notebook for another decision** (demand, reviews, recommend ...) is this file with `DECISION` and `PARAMS`
# changed: every helper below works for any registered decision.
#
# Open it with `jupytext --to notebook notebooks/churn_retraining.py` or run it as a script.

# %% tags=["parameters"]
DECISION = "churn"
DATASET = "synthetic"  # any dataset ingested under SHOPSENSE_DATA_DIR
PARAMS = {"num_leaves": 15, "n_estimators": 300, "learning_rate": 0.05}  # estimator overrides
SEED = 42

# %%
from features.settings import get_settings
from training import tracking
from training.decisions.spec import TrainOptions
from training.reports import notebook as nb
from training.runner import run_decision

settings = get_settings()
tracking.configure(settings)
options = TrainOptions(seed=SEED, params=PARAMS)
print("tracking store:", settings.tracking_uri)
print("champion before:", tracking.champion_version(tracking.registered_name(DECISION, DATASET, settings)))
print("upstream trained now:", nb.train_upstream(DECISION, DATASET, settings))

# %% [markdown]
# ## Look at the data
# Rows per time part (train, validation, test cutoffs) and the label's mean: the split is by time, never random.

# %%
nb.describe(DECISION, DATASET, settings, options)

# %% [markdown]
# ## Train, evaluate against the baselines, register, gate

# %%
result = run_decision(DECISION, DATASET, options, settings)
nb.comparison(result).round(4)

# %% [markdown]
# ## The gate's verdict and the model against its best baseline

# %%
nb.write_summary(nb.summary(result))

# %% [markdown]
# ## What drives the prediction (TreeSHAP on the latest users; direction +1 = larger value, larger prediction)

# %%
nb.explanations(result, settings)

# %% [markdown]
# ## Who to call: the users with the most value at risk now, with the recall action and the reasons

# %%
from training import decisions
from training.reports import build

ctx = build.context(decisions.get(DECISION), settings.dataset(DATASET), settings, "zh", {})
model = tracking.load_model(result.model_name, result.version)
records = model.decide(ctx.latest.head(2000), explain=True, top_k=2)
calls = ctx.latest.head(2000)[["user_id"]].assign(
    p=[r["churn_probability"] for r in records],
    value_at_risk=[r["value_at_risk"] for r in records],
    action=[r["recall_action"]["label_zh"] for r in records],
    reasons=["; ".join(x["label_zh"] for x in r["reasons"]) for r in records],
)
calls.sort_values("value_at_risk", ascending=False).head(10)
