"""Security headers on every HTTP response.

Pages (the meeting UI, the caption viewer): a Content-Security-Policy that allows only this
origin's scripts and styles, connections to this origin and the SFU's, and no framing. Everything:
`X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (an invite link is a secret in
the URL: it must not leak to another site), `X-Frame-Options: DENY`, and a Permissions-Policy that
gives the camera and microphone to this origin only. API responses get `default-src 'none'`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(self), microphone=(self), display-capture=(), geolocation=()"),
]
API_CSP = b"default-src 'none'; frame-ancestors 'none'"


def page_csp(sfu_url: str) -> bytes:
    """The pages' policy; `sfu_url` (ws(s)://host:port/path, or empty: this origin) may be connected to."""
    connect = "'self'"
    if sfu_url:
        u = urlsplit(sfu_url)
        connect += f" {u.scheme}://{u.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob: mediastream:; connect-src {connect}; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ).encode()


class SecurityHeaders:
    def __init__(self, app: ASGIApp, sfu_url: str = "") -> None:
        self.app = app
        self.page = page_csp(sfu_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        csp = API_CSP if path.startswith(("/api/", "/metrics", "/healthz")) else self.page

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                message["headers"] = [*headers, *COMMON, (b"content-security-policy", csp)]
            await send(message)

        await self.app(scope, receive, with_headers)


_OURS = {k for k, _ in COMMON} | {b"content-security-policy"}
