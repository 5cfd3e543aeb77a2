"""The HR API (``/api/v1``): token clients scoped to a region or unit, credit records, webhooks."""
