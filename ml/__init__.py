"""ml package: train, score and publish the repeat-within-30-days model.

features (the inputs and their encoding) → split (per-user time split) → train (LightGBM,
metrics, ml.model_runs) → score (ml.scores) → publish (serving.recommendations). Each step
takes a psycopg connection; `python -m ml train|score|publish` runs them from the shell.
"""
