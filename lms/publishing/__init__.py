"""Publishing: the publisher's workspace (course editor, media) and the review workflow."""
