"""Prefect Block types and saved blocks AutoAgent relies on."""
