"""Twilio: SMS opt-out files and message logs (`export.py`); no API client."""
