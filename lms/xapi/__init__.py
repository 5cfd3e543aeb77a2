"""xAPI (Experience API 1.0.3) statements about learning, sent to a Learning Record Store."""
