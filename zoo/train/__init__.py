"""Training: the request and its plan, the input pipeline, callbacks and backups, fit and finish, recipes, distribution, transfer and tuning."""
