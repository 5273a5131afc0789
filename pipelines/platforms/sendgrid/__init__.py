"""SendGrid: every suppression list, CSV or API JSON (`export.py`); the suppression API (`api.py`)."""
