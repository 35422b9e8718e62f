"""pytest plugin (entry point `pytest11`): the `cdp_simulator` fixture."""
