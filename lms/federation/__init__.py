"""The courseware federation (issue 19, items 1 and 2): this instance's signed feed of shared
courses (the hub side) and its subscriptions to other instances' feeds (the subscriber side)."""
