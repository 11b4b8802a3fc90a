"""Coded tables, field rules, kit rules and the anomaly catalogue."""
