"""The owner's hidden acceptance tests for the contact form."""

from contact_form import validate


def test_error_messages_are_actionable():
    errors = validate("", "bad", "")
    assert all(message.startswith("Enter") for message in errors.values())


def test_surrounding_whitespace_is_ignored():
    assert validate("  Ada ", " ada@example.ca ", " Hi ") == {}
