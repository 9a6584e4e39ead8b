"""Talking to one deployment: request rules, the SDK transports, the public client and the measuring client."""
