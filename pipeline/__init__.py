"""Plico: from scanned MOD.209 postal kits to istanza records with documentary anomalies."""

__version__ = "0.1.0"
