"""A plugin that fails to import, to show that zoo keeps working without it."""
raise ImportError("zoo-broken is broken on purpose")
