"""Compression verbs: prune (structured and unstructured) and their reports."""
