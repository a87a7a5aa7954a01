"""notifications: what each shopper is told about their orders, and its delivery."""
