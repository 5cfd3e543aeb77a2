"""The programme office's side of the Knowledge Update programme: yearly plans (targets per
department × domain) and their fulfilment."""
