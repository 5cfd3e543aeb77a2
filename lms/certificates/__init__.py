"""Certificates (学时证明), their public verification and signed credentials."""
