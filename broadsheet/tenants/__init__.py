"""A tenant's own settings (delivery: allowed email domains, the webhook secret)."""
