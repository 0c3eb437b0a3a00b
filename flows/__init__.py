"""This repository's missions written as code: examples a Prefect project deploys (prefect.yaml)."""
