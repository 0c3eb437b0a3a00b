"""Deployment definitions: the served mission runner (work pools and prefect.yaml come next)."""
