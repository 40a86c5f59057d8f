"""Training: token data, collators and the Trainer-based stages."""
