"""Market data: download and cache, validation, features and windows (shared by training and serving)."""
