"""HTTP side of a coin daemon: `POST /` JSON-RPC 2.0, `GET /spec`, `GET /ws`, all behind HTTP basic auth.

The coin gives its login/password, its event Hub, its Methods (a daemons.protocol.methods.BaseMethods) and
its /spec document; everything on the wire is decided here, once for every coin.
"""

import base64
import binascii
import hmac
import json
import logging

from aiohttp import web

from daemons.protocol.errors import (
    BATCH_NOT_SUPPORTED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    PARSE_ERROR,
    PAYLOAD_TOO_LARGE,
    PROCEDURE_NOT_FOUND,
    UNAUTHORIZED,
    WALLET_NOT_LOADED,
    RPCError,
)
from daemons.protocol.events import Hub
from daemons.protocol.methods import BaseMethods

logger = logging.getLogger("daemons.protocol.server")

MAX_BODY = 1024 * 1024


def _dumps(data) -> str:
    # Decimal and similar come out as strings, as Bitcart's daemon sends them.
    return json.dumps(data, default=str)


def error_response(code: int, message: str, req_id=None, status: int = 200) -> web.Response:
    body = {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": req_id}
    return web.json_response(body, status=status, dumps=_dumps)


def split_params(params) -> tuple[list, dict]:
    """Bitcart's convention: a list, a dict, or a list whose last element is the kwargs dict."""
    if params is None:
        return [], {}
    if isinstance(params, dict):
        return [], dict(params)
    if isinstance(params, list):
        if params and isinstance(params[-1], dict):
            return list(params[:-1]), dict(params[-1])
        return list(params), {}
    raise RPCError(INVALID_PARAMS, "params must be a list or an object")


class Server:
    def __init__(self, *, login: str, password: str, hub: Hub, methods: BaseMethods, spec: dict):
        self.login = login
        self.password = password
        self.hub = hub
        self.methods = methods
        self.spec = spec

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/", self.handle_rpc)
        app.router.add_get("/spec", self.handle_spec)
        app.router.add_get("/ws", self.handle_ws)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, _app) -> None:
        await self.hub.close()

    def authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode("latin1").partition(":")
        except (binascii.Error, ValueError):
            return False
        # compare_digest over both parts, so timing does not reveal which one was wrong
        ok_user = hmac.compare_digest(user.encode("latin1"), self.login.encode("latin1", "replace"))
        ok_pass = hmac.compare_digest(password.encode("latin1"), self.password.encode("latin1", "replace"))
        return ok_user and ok_pass

    def unauthorized(self) -> web.Response:
        response = error_response(UNAUTHORIZED, "Unauthorized", status=401)
        response.headers["WWW-Authenticate"] = 'Basic realm="bitcart-daemon"'
        return response

    async def handle_spec(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return self.unauthorized()
        return web.json_response(self.spec)

    async def handle_ws(self, request: web.Request):
        if not self.authorized(request):
            return self.unauthorized()
        return await self.hub.serve(request)

    async def handle_rpc(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return self.unauthorized()
        if request.content_length is not None and request.content_length > MAX_BODY:
            return error_response(PAYLOAD_TOO_LARGE, "Request body is larger than 1 MB", status=413)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return error_response(PAYLOAD_TOO_LARGE, "Request body is larger than 1 MB", status=413)
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested arrays/objects
            return error_response(PARSE_ERROR, "Parse error")
        if isinstance(data, list):
            return error_response(BATCH_NOT_SUPPORTED, "Batch requests are not supported; send one call at a time")
        if not isinstance(data, dict):
            return error_response(INVALID_PARAMS, "Invalid request: expected a JSON-RPC object")
        req_id = data.get("id")
        if not isinstance(req_id, (str, int, float, type(None))) or isinstance(req_id, bool):
            req_id = None
        try:
            result = await self.dispatch(data.get("method"), data.get("params"))
        except RPCError as exc:
            return error_response(exc.code, exc.message, req_id)
        except Exception:  # the one dispatch boundary: an unexpected error becomes a spec error (and is logged)
            logger.exception("unexpected error in %r", data.get("method"))
            return error_response(INTERNAL_ERROR, "Internal error", req_id)
        return web.json_response({"jsonrpc": "2.0", "result": result, "id": req_id}, dumps=_dumps)

    async def dispatch(self, method, params):
        if not isinstance(method, str) or not method:
            raise RPCError(PROCEDURE_NOT_FOUND, "Procedure not found")
        info = self.methods.registry.lookup(method)
        if info is None:
            raise RPCError(PROCEDURE_NOT_FOUND, "Procedure not found")
        args, kwargs = split_params(params)
        xpub = kwargs.pop("xpub", None)
        wallet = None
        if info.requires_wallet:
            if not xpub:
                raise RPCError(WALLET_NOT_LOADED, "Wallet not loaded")
            wallet = self.methods.wallet(xpub)
        return await self.methods.call(info, args, kwargs, wallet)
