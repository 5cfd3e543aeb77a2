"""The admin console (/admin): people and their roles, accounts, exam attempts, the audit log."""
