"""Served. Reading and checking a price table (an upload or the training cache): CSV dialects, date
formats, validation, plausibility, bar spacing and exchange calendars. Shipped whole in the archive."""
