"""Background work: the scheduler with its task registry, and the presence of running copies."""
