"""Kajabi: contact and segment exports (`export.py`); no API client."""
