"""Dev-only simulators: the provider stand-in server and the rate-control simulation."""
