"""Alert lifecycle over time and delivery: expiry ticks, the live stream, webhooks."""
