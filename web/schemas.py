"""GET /api/v1/schemas/<name>.json: the published JSON Schemas, public and cacheable.

Editors fetch the spec's schema from the `# yaml-language-server: $schema=` line of an
acceptance spec; verifiers fetch the report predicate's. No token: they are public, like
the signing keys.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from acceptance.engine.schemas import MEDIA_TYPE, SCHEMAS, etag, rendered

schemas_api = Blueprint("schemas_api", __name__, url_prefix="/api/v1/schemas")

#: seconds a cache may keep a schema before asking again (with If-None-Match: usually a 304)
MAX_AGE = 3600


@schemas_api.get("/<name>.json")
def schema(name: str) -> Response:
    """The schema ``name`` (acceptance-spec, report-predicate); 304 when the ETag matches."""
    if name not in SCHEMAS:
        abort(404, f"no such schema; the schemas are: {', '.join(sorted(SCHEMAS))}")
    response = Response(rendered(name), mimetype=MEDIA_TYPE)
    response.set_etag(etag(name))
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    response.make_conditional(request)  # 304 and an empty body when If-None-Match matches
    return response
