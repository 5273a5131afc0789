"""Amazon SES: suppression list, import files, notifications (`export.py`); the signed API (`api.py`, botocore for credentials and signing)."""
