"""Events leaving the platform: domain events published after the write committed, to the region's bus and the
webhook queue (``delivery``), a tenant admin's webhook endpoints (``webhooks``), and the sending of due webhook
deliveries (``webhook_dispatch``)."""
