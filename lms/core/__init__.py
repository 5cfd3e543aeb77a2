"""What every domain package shares: errors, time, storage, database set-up, audit."""
