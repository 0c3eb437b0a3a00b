"""The steps this repository's code missions call (flows/)."""
