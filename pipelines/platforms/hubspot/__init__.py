"""HubSpot: contact exports and CRM API contacts (`export.py`); no API client."""
