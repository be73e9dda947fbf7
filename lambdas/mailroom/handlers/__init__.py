"""Lambda entry points, one per state of the state machine plus the Starter (names match the states)."""
