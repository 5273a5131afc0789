"""Mailgun: bounces, unsubscribes and complaints per domain (`export.py`); their API (`api.py`)."""
