"""Prefect tasks that do a mission's work."""
