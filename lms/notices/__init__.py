"""通知公告: notices published by admins (any region, or nationwide) and HR auditors (their regions)."""
