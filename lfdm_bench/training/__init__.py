"""Training: the engine shared by every stage, and the LFDM / LDM stage trainers."""
