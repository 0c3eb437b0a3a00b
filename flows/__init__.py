"""Prefect flows: the generic mission runner and its groups."""
