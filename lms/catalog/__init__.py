"""Catalog: subjects, courses, chapters and lessons, and the course packages they come from."""
