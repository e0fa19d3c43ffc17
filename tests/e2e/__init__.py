"""End-to-end tests against the running local platform (``make run``)."""
