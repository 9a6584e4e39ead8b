"""Cost: what a run cost, what fixed capacity costs, and what production traffic would cost."""
