"""Assessment: quiz questions and, later, attempts and grading."""
