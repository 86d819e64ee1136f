"""Training side of mediqa-sdk (installed as ``mediqa_sdk.train`` with the ``[train]`` extra)."""
