"""Forge feedback: the verdict of a run as a commit status on GitHub, GitLab or Gitea/Forgejo.

`interface` holds the shared types; one module per forge sends a status
(`github`, `gitlab`, `gitea`); `credentials` checks what a submission registers;
`status` says what a run's status is; `delivery` sends it and keeps every attempt.
"""
