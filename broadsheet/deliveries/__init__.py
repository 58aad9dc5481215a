"""Delivery: an execution's report to each of its schedule's recipients, once, with retries."""
