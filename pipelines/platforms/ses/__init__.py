"""Amazon SES: suppression list, import files, notifications (`export.py`); the signed API (`api.py`, `sigv4.py`)."""
