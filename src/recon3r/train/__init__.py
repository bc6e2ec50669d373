"""Training: losses, schedules, samplers and the trainer."""
