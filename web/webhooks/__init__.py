"""Verify and interpret webhook deliveries; pure functions, no Flask, no database.

Three steps, each with its own error and HTTP status (``exc.status``):

1. ``signature.verify(headers, body, secret)``: was the raw body signed with the
   submission's secret? ``WebhookAuthError`` (401).
2. ``payload.parse(provider, headers, body)``: what does the delivery say?
   ``WebhookPayloadError``: 400 (not JSON), 413 (body over ``MAX_BODY_BYTES``),
   415 (form-encoded), 422 (JSON of the wrong shape).
3. ``decision.decide(delivery, ...)``: run, pong or ignore? ``WebhookRepositoryMismatch``
   (422) when the payload names another repository.

Senders and their headers:

* GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``,
  ``X-GitHub-Event``, ``X-GitHub-Delivery``, ``User-Agent: GitHub-Hookshot/...``.
* Gitea/Forgejo: ``X-Gitea-Signature`` / ``X-Forgejo-Signature`` (bare hex) and
  usually ``X-Hub-Signature-256`` too; ``X-Gitea-Event`` / ``X-Forgejo-Event``,
  ``X-Gitea-Delivery`` / ``X-Forgejo-Delivery``; a GitHub-shaped push payload.
* GitLab: ``X-Gitlab-Token`` (the secret itself), ``X-Gitlab-Event: Push Hook``,
  ``Idempotency-Key`` (stable across retries) or ``X-Gitlab-Event-UUID``.
* Generic: GitHub's header scheme from any other sender.

Only push deliveries are read beyond their headers: other events are ignored.
``delivery`` holds what the three share: the sender, the delivery, the errors.
"""
