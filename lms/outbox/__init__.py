"""The outbox: messages to other systems, written with the change they describe and delivered after
the commit with retries. Kinds of message (webhooks, xAPI statements) register how their request is
built (:func:`lms.outbox.delivery.sender`); the dispatcher names none of them."""
