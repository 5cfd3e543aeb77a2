"""The programme office's side of the Knowledge Update programme: yearly plans (targets per
department × domain) and their fulfilment (services, plans), the continuing-education bases
(bases), and the digital-technology engineer programme's institution directories (institutions,
institution_codes)."""
