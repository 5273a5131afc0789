"""Brevo: blocklist and contact exports (`export.py`); the transactional blocklist API (`api.py`)."""
