"""Templates and static assets (no Python logic lives here)."""
