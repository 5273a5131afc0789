"""ActiveCampaign: contact exports and API contacts (`export.py`); no API client."""
