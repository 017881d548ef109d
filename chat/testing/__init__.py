"""Helpers shared by the tests and the bench: real clients and a real local cluster (dev requirements)."""
