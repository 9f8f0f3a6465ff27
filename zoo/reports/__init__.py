"""What a person reads: a run's report page and figures, and the comparison of runs."""
