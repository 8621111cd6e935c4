"""``switchboard eval``: replay strategies on held-out prompts, score them, report and plot."""
