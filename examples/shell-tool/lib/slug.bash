#!/usr/bin/env bash
# Functions behind bin/slugify: turn a title into a lower-case, dash-separated URL slug.

# slug_of TEXT: prints TEXT as a slug ("Hello, World!" -> "hello-world").
slug_of() {
  local text="$1"
  text="$(printf '%s' "$text" | tr '[:upper:]' '[:lower:]')"
  text="$(printf '%s' "$text" | sed -e 's/[^a-z0-9]\{1,\}/-/g' -e 's/^-//' -e 's/-$//')"
  printf '%s\n' "$text"
}

# slug_truncate SLUG MAX: cuts SLUG to at most MAX characters, never ending on a dash.
slug_truncate() {
  local slug="$1" max="$2"
  slug="${slug:0:max}"
  printf '%s\n' "${slug%-}"
}
