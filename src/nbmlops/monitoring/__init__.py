"""Monitoring: drift between a reference sample and current data."""
