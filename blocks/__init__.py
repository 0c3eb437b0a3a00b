"""The blocks this Prefect project registers on a server: ``python -m blocks.register``."""
