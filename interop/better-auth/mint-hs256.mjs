// Mints HS256 tokens the way a frontend does with `jose` and the shared BETTER_AUTH_SECRET:
//
//   new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt()
//     .setExpirationTime("15m").sign(new TextEncoder().encode(process.env.BETTER_AUTH_SECRET))
//
// usage: BETTER_AUTH_SECRET=... node mint-hs256.mjs '[{"sub": "u1"}, {"user": {"id": "u2"}}]'
// prints a JSON array with one token per claims object, in order.

import { SignJWT } from "jose";

const secret = process.env.BETTER_AUTH_SECRET;
if (!secret) {
  console.error("BETTER_AUTH_SECRET is not set");
  process.exit(2);
}
const key = new TextEncoder().encode(secret);
const claimSets = JSON.parse(process.argv[2] ?? "[]");

const tokens = [];
for (const claims of claimSets) {
  tokens.push(
    await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt()
      .setExpirationTime("15m")
      .sign(key),
  );
}
console.log(JSON.stringify(tokens));
