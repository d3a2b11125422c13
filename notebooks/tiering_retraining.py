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
# # Tiering retraining (用户分层模型重训)
#
# For data scientists: retrain the user tiers (RFM + K-means on log-RFM, tenure and predicted value) with your own
# K-means settings, compare silhouette and stability with the current champion on the same time-split
# holdout, and look at what drives the prediction. The run goes through the same runner and champion gate as
# `shopsense train tiering`, so an experiment here can never silently replace a better production model.
#
# **A notebook for another decision** (demand, reviews, recommend ...) is this file with `DECISION` and `PARAMS`
# changed: every helper below works for any registered decision.
#
# Open it with `jupytext --to notebook notebooks/tiering_retraining.py` or run it as a script.

# %% tags=["parameters"]
DECISION = "tiering"
DATASET = "synthetic"  # any dataset ingested under SHOPSENSE_DATA_DIR
PARAMS = {"k_min": 6, "k_max": 8}  # K-means range (the six handbook tiers are the floor)
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
# The model falls back to the handbook RFM rules (its baseline) when K-means is less stable, so it must be at least
# as good as the rules; and the tiers must separate users (silhouette > 0).
nb.write_summary(nb.summary(result, {"silhouette_above_zero": result.metrics["silhouette"] > 0}, allow_tie=True))

# %% [markdown]
# ## What the tiers are: the cluster centroids (median user of each tier, original units)
#
# K-means has no SHAP; a tier is explained by where its centroid lies (recency, orders, spend, tenure, value).

# %%
model = tracking.load_model(result.model_name, result.version)
model.tiering.centroids_
