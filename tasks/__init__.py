"""Benchmark plugins (VQAv2, GQA, MMBench, POPE, SEED-Bench, ImageNet) and their shared scoring code."""
