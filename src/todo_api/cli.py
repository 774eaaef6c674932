"""`todo-api serve | migrate | token`."""

import argparse
import logging
import os
import sys
import time

import jwt
import uvicorn
from pydantic import ValidationError

from todo_api import migrations
from todo_api.core.config import DEV_SQLITE_FILE, Settings, get_settings

logger = logging.getLogger("todo_api")


def _load_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as error:
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}".removeprefix(
                "Value error, "
            )
            for e in error.errors()
        )
        raise SystemExit(f"todo-api: cannot start: {reasons}") from None


def serve(args: argparse.Namespace) -> None:
    settings = _load_settings()
    if not settings.is_production:
        migrations.upgrade(settings)
        where = (
            settings.database_url and "DATABASE_URL"
        ) or f"SQLite file {DEV_SQLITE_FILE.resolve()}"
        logger.warning(
            "development mode on %s, migrations applied. Mint a token with "
            "`todo-api token <user-id>` (`./dev token <user-id>` in a checkout).",
            where,
        )
    workers = args.workers or (os.cpu_count() or 1 if settings.is_production else 1)
    uvicorn.run(
        "todo_api.app:create_app",
        factory=True,
        host=args.host or ("0.0.0.0" if settings.is_production else "127.0.0.1"),  # noqa: S104
        port=args.port,
        workers=None if args.reload else workers,
        reload=args.reload,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        server_header=False,
        proxy_headers=True,
        # Our middleware writes one structured line per request instead.
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )


def migrate(_args: argparse.Namespace) -> None:
    migrations.upgrade(_load_settings())
    logger.warning("migrations applied")


def token(args: argparse.Namespace) -> None:
    settings = _load_settings()
    if settings.better_auth_secret is None:
        raise SystemExit("todo-api: `token` signs with BETTER_AUTH_SECRET, which is not set")
    now = int(time.time())
    claims: dict[str, object] = {"sub": args.user_id, "iat": now, "exp": now + args.ttl}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    print(jwt.encode(claims, settings.better_auth_secret.get_secret_value(), algorithm="HS256"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="todo-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run the HTTP server")
    serve_parser.add_argument("--host", help="default 127.0.0.1 (0.0.0.0 in production)")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--workers", type=int, help="default 1 (CPU count in production)")
    serve_parser.add_argument("--reload", action="store_true", help="restart on code changes")
    serve_parser.set_defaults(handler=serve)

    migrate_parser = commands.add_parser("migrate", help="apply database migrations")
    migrate_parser.set_defaults(handler=migrate)

    token_parser = commands.add_parser("token", help="mint an HS256 token for local testing")
    token_parser.add_argument("user_id")
    token_parser.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    token_parser.set_defaults(handler=token)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(format="%(levelname)s: %(message)s", level=logging.INFO, stream=sys.stderr)
    args = build_parser().parse_args(argv)
    args.handler(args)
