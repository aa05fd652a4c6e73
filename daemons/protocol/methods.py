"""Method registration and calling, shared by the coin daemons' `Methods` classes.

A coin makes one `Registry`, decorates its methods with `registry.rpc(...)` and subclasses `BaseMethods`
with `registry` set. A method declared with requires_wallet gets `wallet` (what the coin's `wallet()` made of
the call's `xpub` kwarg); its other parameters come from the call's params.
"""

import inspect
from collections.abc import Callable

from daemons.protocol.errors import INVALID_PARAMS, PROCEDURE_NOT_FOUND, WATCH_ONLY, RPCError


class MethodInfo:
    def __init__(self, func: Callable, requires_wallet: bool):
        self.func = func
        self.requires_wallet = requires_wallet
        self.signature = inspect.signature(func)


class Registry:
    def __init__(self, *, aliases: dict[str, str], error: type[RPCError]):
        self.aliases = aliases
        self.error = error  # the coin's RPCError (its wording of the codes)
        self.methods: dict[str, MethodInfo] = {"help": MethodInfo(BaseMethods.help, False)}

    def rpc(self, requires_wallet: bool = False) -> Callable[[Callable], Callable]:
        def register(func: Callable) -> Callable:
            self.methods[func.__name__] = MethodInfo(func, requires_wallet)
            return func

        return register

    def watch_only(self, *names: str) -> None:
        """Spending methods: wallets here are watch-only, so say so with a stable code (-32019) instead of failing
        somewhere deeper."""
        error = self.error

        def refuse(self, *_args, **_kwargs):
            raise error(WATCH_ONLY)

        for name in names:
            self.methods[name] = MethodInfo(refuse, False)

    def lookup(self, name: str) -> MethodInfo | None:
        return self.methods.get(self.aliases.get(name, name))

    def names(self) -> list[str]:
        return sorted([*self.methods, *self.aliases])


class BaseMethods:
    registry: Registry

    def wallet(self, value: object) -> object:
        """The wallet a requires_wallet method gets, from the call's (non-empty) `xpub` kwarg."""
        raise NotImplementedError

    async def call(self, info: MethodInfo, args: list, kwargs: dict, wallet: object) -> object:
        if info.requires_wallet:
            kwargs = {**kwargs, "wallet": wallet}
        try:
            bound = info.signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise RPCError(INVALID_PARAMS, f"invalid parameters: {exc}") from None
        result = info.func(*bound.args, **bound.kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    def help(self, func=None):
        if func is None:
            return self.registry.names()
        info = self.registry.lookup(func) if isinstance(func, str) else None
        if info is None:
            raise RPCError(PROCEDURE_NOT_FOUND, "Procedure not found")
        params = [p for p in info.signature.parameters if p not in ("self", "wallet")]
        return f"{func}({', '.join(params)})\n\n{inspect.getdoc(info.func) or ''}".strip()
