"""Scoring helpers shared by the tasks: VQA normalisation, choice extraction, accuracy, output cleaning."""
