"""Baselines Switchboard is compared with, reimplemented on the same embeddings, answers and costs."""
