"""Shared semantic questions answered once for every check."""
