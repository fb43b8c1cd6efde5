"""Execution backends for traced PyTensor graphs."""
