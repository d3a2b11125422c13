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
# # Lifetime value retraining (用户价值模型重训)
#
# For data scientists: retrain the lifetime-value decision (spend per user in the next 180 days) with your own
# LightGBM settings, compare it with the carried-forward baseline and the current champion on the same time-split
# holdout, and look at what drives the prediction. The run goes through the same runner and champion gate as
# `shopsense train ltv`, so an experiment here can never silently replace a better production model.
#
# **A notebook for another decision** (demand, reviews, recommend ...) is this file with `DECISION` and `PARAMS`
# changed: every helper below works for any registered decision.
#
# Open it with `jupytext --to notebook notebooks/ltv_retraining.py` or run it as a script.

# %% tags=["parameters"]
DECISION = "ltv"
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
