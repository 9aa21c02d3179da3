"""Placeholder until the integration issue lands."""
