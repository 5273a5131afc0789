"""Mailchimp: audience exports and API members (`export.py`); the Marketing API members (`api.py`)."""
