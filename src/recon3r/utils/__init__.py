"""Small shared utilities (progress bars, seeding, device selection, cooperative cancellation)."""
