"""Tenant keys: versions created, unwrapped through one cache and revoked (``tenant_keys``), rotated by the admin
route and the daily schedule (``rotation``), and the one-off move of key items into the key table (``migration``)."""
