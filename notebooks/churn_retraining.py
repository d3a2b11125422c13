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
# Retrain the churn decision (no order in the next 90 days) with your own LightGBM settings through the same
# runner and champion gate as `shopsense train churn`: an experiment here never silently replaces a better
# production model. The shared steps live in `training/reports/notebook.py`; this notebook holds what is churn's.

# %% tags=["parameters"]
DECISION = "churn"
DATASET = "synthetic"  # any dataset ingested under SHOPSENSE_DATA_DIR
PARAMS = {"num_leaves": 15, "n_estimators": 300, "learning_rate": 0.05}  # LightGBM overrides
SEED = 42

# %%
from IPython.display import display

from training.reports.notebook import Retraining

run = Retraining(DECISION, DATASET, PARAMS, SEED)
run.start()  # trains LTV and tiering first if they have no champion (churn reads their outputs)

# %% [markdown]
# ## The data: monthly cutoffs split by time, and how the churn rate moves from one cutoff to the next

# %%
display(run.describe())
train = run.data.part("train")
train.groupby("as_of")["churned"].agg(["size", "mean"]).tail(6)

# %% [markdown]
# ## Train and compare with the recency rule, RFM logistic regression and BG/NBD on the same holdout

# %%
run.train().round(4)

# %% [markdown]
# ## Verdict: the champion gate, and the model against every baseline (the notebook test asserts these)

# %%
run.verdict(checks={"calibrated": run.result.metrics["ece"] < 0.1})

# %% [markdown]
# ## What raises the churn risk (TreeSHAP on the latest users; direction +1 = larger value, higher risk)

# %%
run.drivers()

# %% [markdown]
# ## The recall list of this version: users with the most value at risk, the action and the reasons

# %%
run.actions()
