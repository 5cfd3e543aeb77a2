"""The ground floor every domain package shares: errors, time, storage, database set-up, audit,
signals, the job queues and small view helpers. It imports no domain package (only
:mod:`lms.extensions`, like :mod:`lms.config` the ground too); what a domain must tell it goes
through a signal or a registry (tasks register with the queues when their modules are imported)."""
