"""Interoperation with lmms-eval: VARGPT as an lmms-eval model, and re-scoring lmms-eval sample logs."""
