"""Judging explanations: ``metrics`` (against ground truth and against the model), ``stats`` (rank
correlations and bootstrap intervals), ``sanity`` (the randomisation checks) and ``evaluation`` (a
metric over a whole ``DataLoader``). They read maps, so they work with any method's output."""
