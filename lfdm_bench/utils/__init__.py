"""Small utilities: atomic file writes, hashing, seeding."""
