"""Developer tooling: the local platform (``make run``) and its resource provisioning. Not deployed."""
