"""Accounts: people, organizations, regions, roles, registration and login."""
