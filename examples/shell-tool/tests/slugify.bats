#!/usr/bin/env bats
# The slugify tool's behaviour, as the contract describes it.

setup() {
  SLUGIFY="$BATS_TEST_DIRNAME/../bin/slugify"
}

@test "a title becomes a lower-case slug" {
  run "$SLUGIFY" "Hello, World!"
  [ "$status" -eq 0 ]
  [ "$output" = "hello-world" ]
}

@test "several words are joined with single dashes" {
  run "$SLUGIFY" "Parks" "and" "Recreation   2026"
  [ "$output" = "parks-and-recreation-2026" ]
}

@test "leading and trailing punctuation is dropped" {
  run "$SLUGIFY" "--- Budget (draft) ---"
  [ "$output" = "budget-draft" ]
}

@test "--max cuts the slug without a trailing dash" {
  run "$SLUGIFY" --max 6 "Hello World"
  [ "$output" = "hello" ]
}

@test "no text is a usage error" {
  run "$SLUGIFY"
  [ "$status" -eq 2 ]
  [[ "$output" == usage:* ]]
}
