"""zoo's built-in exporter plugins (installed as ``zoo_exports``)."""
