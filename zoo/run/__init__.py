"""Run directories: where runs go, a run opened once (its typed config), and a run's model."""
