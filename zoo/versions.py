"""Versions of what produced an artifact, recorded in configs and model cards."""
import platform


def versions(*packages: str) -> dict:
    import importlib.metadata  # here: zoo predict imports this module and never calls it

    found = {"python": platform.python_version()}
    for name in ("zoo", "tensorflow", "keras", "numpy", *packages):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found
