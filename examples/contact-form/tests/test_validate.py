from contact_form import MAX_MESSAGE, validate


def test_valid_form_has_no_errors():
    assert validate("Ada", "ada@example.ca", "Hello") == {}


def test_every_field_is_required():
    assert set(validate("", "", "")) == {"name", "email", "message"}


def test_email_must_look_like_an_address():
    assert "email" in validate("Ada", "not-an-address", "Hello")


def test_message_length_is_capped():
    assert "message" in validate("Ada", "ada@example.ca", "x" * (MAX_MESSAGE + 1))
