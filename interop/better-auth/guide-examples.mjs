// Runs the ```js examples of the frontend guide (docs/frontend.md, its "Connecting your Better
// Auth frontend" section) verbatim, as a signed-in browser would: a new user signs up through Better Auth's own client (`authClient.signUp.email`), then the
// guide's code runs with that `authClient`, against the API at TODO_API_URL.
//
// usage: BETTER_AUTH_URL=... TODO_API_URL=... [INITIAL_TOKEN=...] [GUIDE_FILE=...] \
//          node guide-examples.mjs
// INITIAL_TOKEN starts the guide's `token` variable with a given (say, expired) token.
// Prints one JSON line: {userId, calls: [{method, path, status}], results: {...}}.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

import { createAuthClient } from "better-auth/client";
import { jwtClient } from "better-auth/client/plugins";

const baseURL = process.env.BETTER_AUTH_URL;
const apiURL = process.env.TODO_API_URL;
if (!baseURL || !apiURL) {
  console.error("BETTER_AUTH_URL and TODO_API_URL are required");
  process.exit(2);
}

// Node's fetch has no cookie jar and sends no Origin header; a browser does both by itself.
let cookie = "";
const authClient = createAuthClient({
  baseURL,
  plugins: [jwtClient()],
  fetchOptions: {
    onRequest(context) {
      context.headers.set("origin", baseURL);
      if (cookie) context.headers.set("cookie", cookie);
    },
    onResponse(context) {
      const set = context.response.headers.getSetCookie();
      if (set.length) cookie = set.map((line) => line.split(";")[0]).join("; ");
    },
  },
});

const id = randomBytes(4).toString("hex");
const signedUp = await authClient.signUp.email({
  email: `guide-${id}@example.com`,
  password: randomBytes(12).toString("base64url"),
  name: "Guide reader",
});
if (signedUp.error) {
  console.error("sign-up failed:", JSON.stringify(signedUp.error));
  process.exit(1);
}

// Every call the guide makes to our API, with its answer's status.
const calls = [];
const browserFetch = globalThis.fetch;
const fetch = async (url, init = {}) => {
  const response = await browserFetch(url, init);
  if (String(url).startsWith(apiURL)) {
    calls.push({
      method: init.method ?? "GET",
      path: String(url).slice(apiURL.length),
      status: response.status,
    });
  }
  return response;
};

// GUIDE_FILE: the file holding the section (default: the project's docs/frontend.md).
// Only the section's own ```js blocks run.
const guideFile = process.env.GUIDE_FILE || new URL("../../docs/frontend.md", import.meta.url);
const HEADING = "## Connecting your Better Auth frontend";
const guide = readFileSync(guideFile, "utf8");
const start = guide.indexOf(HEADING);
const end = guide.indexOf("\n## ", start + HEADING.length);
const section = start < 0 ? "" : guide.slice(start, end < 0 ? undefined : end);
const blocks = [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((match) => match[1]);
if (blocks.length === 0) {
  console.error(`${guideFile} has no "${HEADING}" section with a \`\`\`js block`);
  process.exit(1);
}
function substitute(source, pattern, replacement) {
  if (!pattern.test(source)) {
    console.error(`${guideFile} no longer has a line matching ${pattern}`);
    process.exit(1);
  }
  return source.replace(pattern, replacement);
}
let code = substitute(blocks.join("\n"), /^const API_URL = .*;$/m, "const API_URL = __apiURL;");
if (process.env.INITIAL_TOKEN) {
  code = substitute(code, /^let token;$/m, "let token = process.env.INITIAL_TOKEN;");
}
const results = "{ tasks, total, task, fetched, updated, toggled, deleted: deleted.status, me }";
const AsyncFunction = (async () => {}).constructor;
const run = new AsyncFunction("authClient", "fetch", "__apiURL", `${code}\nreturn ${results};`);

console.log(
  JSON.stringify({
    userId: signedUp.data.user.id,
    calls,
    results: await run(authClient, fetch, apiURL),
  }),
);
