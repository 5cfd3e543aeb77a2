"""Full-text course search (Whoosh + jieba), kept up to date by jobs."""
