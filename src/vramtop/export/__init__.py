"""Consumers of frames that leave the terminal: JSON, CSV, Prometheus, webhooks."""
