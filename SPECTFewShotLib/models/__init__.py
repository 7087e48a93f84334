"""Shipped model weights: a registry with checksums, loaded safely."""
