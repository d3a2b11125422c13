"""Explanation reports for operations (zh + en, self-contained HTML) and model monitoring with a retrain signal.

``build.build_reports`` (``shopsense report``) and ``monitor.monitor`` (``shopsense monitor``) are generic over the
decision registry; a decision's optional ``DecisionSpec.report`` hooks (:mod:`training.reports.hooks`) add its
latest rows, SHAP, action list and realised performance. Nothing here runs at import time.
"""
