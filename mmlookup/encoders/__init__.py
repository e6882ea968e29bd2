"""Encoder families; importing this package registers all of them."""
