"""Small utilities: atomic file writes and hashes (io), the cache root (paths), devices, RNG state (seed), parameter
counts (params)."""
