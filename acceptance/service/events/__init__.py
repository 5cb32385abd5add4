"""Signed events for owners' systems: an opportunity's endpoints receive `run.finished`,
`decision.recorded` and `submission.state_changed`, signed per the Standard Webhooks specification.

`endpoints` registers them (the secret shown once), `payloads` says what each event carries,
`delivery` records each event per endpoint, signs it and sends it, retrying for up to a day.
"""
