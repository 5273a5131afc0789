"""Campaign Monitor: suppression list, list states and campaign bounces (`export.py`); no API client."""
