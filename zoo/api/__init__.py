"""The plugin API: hook specs, the registry and what entries hold, plugin loading, and the guard around every call into plugin code."""
