"""PayHub's machine-readable contract: OpenAPI 3.1 for HTTP, AsyncAPI 3.0 for SSE, WebSocket and Kafka.

Both documents are generated from the code, never written by hand:

* every HTTP route has one :class:`~hub.apidoc.declare.Operation` declared beside it (summary, the
  pydantic models of its query, body and replies, its error classes from :mod:`hub.errors`, its
  security); :func:`~hub.apidoc.openapi.openapi_document` walks the routes a process serves and
  fails on a route without a declaration (tests fail on a declaration without a route);
* the event shapes (:mod:`hub.apidoc.events`) are pydantic models; the AsyncAPI document
  (:func:`~hub.apidoc.asyncapi.asyncapi_document`) takes their JSON Schemas and the Kafka topics of
  :mod:`hub.topics`.

Models forbid extra properties, so a field added to a reply without its model fails the tests that
validate live responses and frames against the documents (schemathesis, the AsyncAPI frame tests).
"""
