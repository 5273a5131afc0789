"""Postmark: suppression dumps and Bounces exports (`export.py`); the suppression dump API (`api.py`)."""
