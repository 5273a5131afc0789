"""Generic event files, `address,event,occurred_at[,detail]`, from any source (`export.py`)."""
