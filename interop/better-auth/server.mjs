// A real Better Auth server, configured the way a todo-api frontend configures it:
// email + password sign-up and the `jwt` plugin (issuer and audience default to the base URL).
// The database is Better Auth's in-memory adapter, so every start has fresh users and keys.
//
// Environment (all optional):
//   HOST                     default 127.0.0.1
//   PORT                     default 3000; 0 picks a free port (the ready line says which)
//   BETTER_AUTH_SECRET       the secret shared with todo-api (HS256); random if unset
//   JWT_ALG                  jwks.keyPairConfig.alg: EdDSA (default), ES256, ES512, RS256, PS256
//   JWKS_ROTATION_INTERVAL   jwks.rotationInterval in seconds (default: no rotation)
//   JWKS_GRACE_PERIOD        jwks.gracePeriod in seconds (Better Auth's default: 30 days)
//   JWT_EXPIRATION_TIME      jwt.expirationTime, e.g. "15m" (default), "5s", "-2m" (already expired)
//   JWT_ISSUER, JWT_AUDIENCE jwt.issuer / jwt.audience (default: the base URL, as Better Auth does)
//   COOKIE_CACHE             "jwt" turns on session.cookieCache with strategy "jwt": the
//                            session_data cookie is then an HS256 JWT signed with the secret
//   TRUSTED_ORIGINS          comma-separated extra origins allowed to call Better Auth
//
// When listening it prints one line to stdout: `BETTER_AUTH_READY {"url": ..., "alg": ...}`.

import { randomBytes } from "node:crypto";
import { createServer } from "node:http";

import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins";

const ALGORITHMS = new Set(["EdDSA", "ES256", "ES512", "RS256", "PS256"]);

const env = process.env;
const host = env.HOST || "127.0.0.1";
const port = Number.parseInt(env.PORT ?? "3000", 10);
const alg = env.JWT_ALG || "EdDSA";
if (!ALGORITHMS.has(alg)) {
  console.error(`JWT_ALG must be one of ${[...ALGORITHMS].join(", ")}, not ${alg}`);
  process.exit(2);
}
const secret = env.BETTER_AUTH_SECRET || randomBytes(32).toString("base64url");
const seconds = (name) => (env[name] ? Number.parseInt(env[name], 10) : undefined);

function makeAuth(baseURL) {
  const jwks = { keyPairConfig: alg === "EdDSA" ? { alg, crv: "Ed25519" } : { alg } };
  const rotationInterval = seconds("JWKS_ROTATION_INTERVAL");
  if (rotationInterval) jwks.rotationInterval = rotationInterval;
  const gracePeriod = seconds("JWKS_GRACE_PERIOD");
  if (gracePeriod) jwks.gracePeriod = gracePeriod;
  const jwtOptions = {};
  if (env.JWT_EXPIRATION_TIME) jwtOptions.expirationTime = env.JWT_EXPIRATION_TIME;
  if (env.JWT_ISSUER) jwtOptions.issuer = env.JWT_ISSUER;
  if (env.JWT_AUDIENCE) jwtOptions.audience = env.JWT_AUDIENCE;

  return betterAuth({
    baseURL,
    secret,
    database: memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
    emailAndPassword: { enabled: true },
    session:
      env.COOKIE_CACHE === "jwt"
        ? { cookieCache: { enabled: true, strategy: "jwt", maxAge: 300 } }
        : undefined,
    trustedOrigins: (env.TRUSTED_ORIGINS || "")
      .split(",")
      .map((origin) => origin.trim())
      .filter(Boolean),
    telemetry: { enabled: false },
    // jwt(): tokens from GET /api/auth/token (authClient.token()) and the `set-auth-jwt`
    // header of GET /api/auth/get-session; public keys at GET /api/auth/jwks.
    plugins: [jwt({ jwks, jwt: jwtOptions })],
  });
}

let handler = null;
const server = createServer((req, res) => {
  if (handler && req.url.startsWith("/api/auth")) return handler(req, res);
  res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
});

server.listen(port, host, () => {
  const address = server.address();
  const url = `http://${host}:${address.port}`;
  handler = toNodeHandler(makeAuth(url));
  console.log(`BETTER_AUTH_READY ${JSON.stringify({ url, alg })}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
