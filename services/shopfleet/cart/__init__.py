"""The cart: one cart per shopper (signed in or anonymous) on the StateStore block."""
