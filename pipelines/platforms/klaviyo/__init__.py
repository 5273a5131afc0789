"""Klaviyo: profile exports, suppressions and API profiles (`export.py`); the profiles API (`api.py`)."""
