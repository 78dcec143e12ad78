"""Database-agnostic pilot core. Must not import any adapter package."""
