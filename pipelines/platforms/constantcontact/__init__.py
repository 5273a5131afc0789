"""Constant Contact: contacts and campaign bounce reports (`export.py`); no API client."""
