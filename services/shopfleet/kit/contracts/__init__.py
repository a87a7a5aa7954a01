"""Shared DTOs: event payloads (`events`) and cross-service request/response models."""
