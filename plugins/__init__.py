"""zoo's built-in architecture and dataset plugins (installed as ``zoo_plugins``)."""
