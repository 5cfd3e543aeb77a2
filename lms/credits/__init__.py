"""Credit rules (RuleSet) and the append-only ledger of earned credit hours (CreditRecord)."""
