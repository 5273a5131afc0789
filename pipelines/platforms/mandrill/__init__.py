"""Mandrill (Mailchimp Transactional): the rejection denylist (`export.py`); no API client."""
