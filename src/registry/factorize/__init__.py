"""Factorization: how a config becomes objects (placeholder, see the next commit)."""
