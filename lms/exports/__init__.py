"""Completion records for employers and HR bureaus: the scoped record query, CSV/XLSX exports."""
