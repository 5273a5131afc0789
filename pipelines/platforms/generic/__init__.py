"""Generic plain lists, one address a line; detected last, as the fallback (`export.py`)."""
