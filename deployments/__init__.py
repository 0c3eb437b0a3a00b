"""What prefect.yaml points at: work pool job templates and the served mission runner."""
