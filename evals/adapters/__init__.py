"""Adapters between the harness and a model: the interface, the VARGPT adapter, scripted test doubles."""
