"""Application services: one use case each, composed of domain rules and adapters."""
