"""Enrolment, honest progress (watched intervals, credited time, play leases) and the final exam."""
